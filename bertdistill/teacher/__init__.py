"""The BERT teacher: the model and its tokenisation, fine-tuning, batched inference (one process
or data-parallel) and its ONNX Runtime int8 copy."""
