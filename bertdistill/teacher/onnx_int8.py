"""The teacher as an ONNX Runtime int8 model for CPU forward passes (`inference.precision:
onnx_int8`): exported and quantised once per teacher by the `quantize_teacher` stage, then run
by labelling, the teacher's explanations and `predict`. Gradients (Integrated Gradients) keep
the torch fp32 teacher.

Quantisation is ONNX Runtime's dynamic int8: every MatMul's weights int8 with one scale per
output channel, activations quantised per batch."""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from bertdistill.core.errors import UserError
from bertdistill.core.files import atomic_folder
from bertdistill.teacher.batching import collate
from bertdistill.teacher.model import encode_texts

if TYPE_CHECKING:
    from bertdistill.teacher.inference import Teacher

ONNX_FILE = "model_int8.onnx"
OPSET = 17


def int8_folder(teacher_folder: str | Path) -> Path:
    """Where `quantize_teacher` puts a teacher's int8 model: ``models/teacher`` ->
    ``models/teacher_int8``."""
    teacher_folder = Path(teacher_folder)
    return teacher_folder.with_name(f"{teacher_folder.name}_int8")


def example_input(teacher: Teacher) -> tuple[torch.Tensor, torch.Tensor]:
    """A sentence pair and a single text, padded: traced on a pair, the graph computes segment
    ids, which are all zero for a single text, so one graph serves texts and pairs alike."""
    tokenizer = teacher.tokenizer
    pair = encode_texts(tokenizer, [("a good film", "a film")], teacher.spec)
    single = encode_texts(tokenizer, ["fine"], teacher.spec)
    return collate(pair + single, tokenizer.pad_token_id, torch.device("cpu"))


def export_onnx(teacher: Teacher, path: str | Path) -> None:
    """The torch fp32 teacher as an fp32 ONNX graph with dynamic batch and length."""
    with warnings.catch_warnings(), torch.inference_mode():
        # the TorchScript exporter (the dynamo one needs onnxscript, which is not installed)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            teacher.model.eval(),
            example_input(teacher),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "length"},
                "attention_mask": {0: "batch", 1: "length"},
                "logits": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )


def export_int8(teacher: Teacher, out: str | Path) -> Path:
    """Export a torch fp32 teacher to ONNX, quantise it to dynamic int8, and write
    ``out/model_int8.onnx`` atomically. Same teacher, same bytes."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model_fp32.onnx"
        export_onnx(teacher, fp32)
        quantized = Path(tmp) / ONNX_FILE
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.disable(logging.WARNING)  # the quantiser logs per tensor to the root logger
            try:
                quantize_dynamic(fp32, quantized, weight_type=QuantType.QInt8, per_channel=True)
            finally:
                logging.disable(logging.NOTSET)
        onnx.checker.check_model(str(quantized))
        with atomic_folder(out) as folder:
            (folder / ONNX_FILE).write_bytes(quantized.read_bytes())
    return Path(out) / ONNX_FILE


class OnnxClassifier:
    """An ONNX Runtime session behind the call the torch teacher answers,
    ``model(input_ids, attention_mask) -> logits``, so the labelling code runs either."""

    def __init__(self, path: str | Path, num_logits: int) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise UserError(
                f"{path} not found: inference.precision=onnx_int8 runs the teacher's int8 model, "
                f"which `dvc repro quantize_teacher` writes (or set inference.precision=fp32)"
            )
        options = ort.SessionOptions()
        # as many threads as torch uses; one operator at a time, so results follow the count only
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise UserError(
                f"{path} is not a readable ONNX model ({str(error).splitlines()[0]}): "
                f"re-run `dvc repro -f quantize_teacher`"
            ) from None
        self.num_logits = num_logits

    def eval(self) -> OnnxClassifier:
        return self

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        feed = {
            "input_ids": input_ids.cpu().numpy().astype(np.int64),
            "attention_mask": attention_mask.cpu().numpy().astype(np.int64),
        }
        return torch.from_numpy(self.session.run(None, feed)[0])
