"""What a saved teacher folder holds, importable without torch (evaluate reads the weights' size
and the encoding spec). Its own module, so editing the model registry never re-runs fine-tuning."""

WEIGHTS_FILE = "model.safetensors"  # the classifier's weights (safetensors, never a pickle)
SPEC_FILE = "teacher.json"  # how texts became token ids: max_len, truncation, head_tokens, pooling
CONFIG_FILE = "config.json"  # the encoder's config; its id2label names the classes
CARD_FILE = "README.md"  # the model card, in the Hugging Face Hub's form
