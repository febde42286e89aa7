"""The teacher in ONNX Runtime: the export computes what torch computes (texts and sentence
pairs), the int8 model is repeatable and close to fp32, and bad or missing files are one-line
errors."""

import dataclasses

import numpy as np
import onnxruntime as ort
import pytest
import torch
from support import synthetic_pairs, synthetic_reviews, tiny_teacher
from transformers import AutoModel

from bertdistill.core.errors import UserError
from bertdistill.core.params import InferenceParams
from bertdistill.teacher.batching import collate
from bertdistill.teacher.inference import load_teacher
from bertdistill.teacher.model import BertClassifier, encode_texts
from bertdistill.teacher.onnx_int8 import ONNX_FILE, export_int8, export_onnx, int8_folder
from bertdistill.teacher.training import save_teacher

INFERENCE = InferenceParams(batch_tokens=256, max_batch_size=8, precision="fp32")


def pair_teacher(tiny_bert):
    """The tiny teacher as a three-class pair classifier: segment ids come from [SEP]."""
    teacher = tiny_teacher(tiny_bert)
    torch.manual_seed(1)
    encoder = AutoModel.from_pretrained(tiny_bert, add_pooling_layer=False)
    model = BertClassifier(encoder, "mean", 0.0, teacher.tokenizer.sep_token_id, num_logits=3)
    return dataclasses.replace(teacher, model=model.eval())


def onnx_logits(path, teacher, texts) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_ids, mask = collate(
        encode_texts(teacher.tokenizer, texts, teacher.spec),
        teacher.tokenizer.pad_token_id,
        torch.device("cpu"),
    )
    return session.run(None, {"input_ids": input_ids.numpy(), "attention_mask": mask.numpy()})[0]


def test_the_onnx_graph_computes_the_torch_logits_of_texts_and_pairs(tiny_bert, tmp_path):
    teacher = pair_teacher(tiny_bert)
    export_onnx(teacher, tmp_path / "teacher.onnx")
    frame = synthetic_pairs(6, seed=3)
    pairs = list(zip(frame["premise"], frame["hypothesis"], strict=True))
    singles = synthetic_reviews(6, seed=4)["text"].tolist()
    for texts in (pairs, singles):
        expected = teacher.logits(texts, INFERENCE, progress=False)
        np.testing.assert_allclose(
            onnx_logits(tmp_path / "teacher.onnx", teacher, texts), expected, atol=1e-4
        )
    # the pairs' segment ids are in the graph: without them the logits would differ
    teacher.model.token_types = lambda input_ids, attention_mask: None
    assert not np.allclose(
        teacher.logits(pairs, INFERENCE, progress=False),
        onnx_logits(tmp_path / "teacher.onnx", teacher, pairs),
        atol=1e-4,
    )


def saved_teacher(tiny_bert, folder):
    teacher = tiny_teacher(tiny_bert)
    save_teacher(folder, teacher.model, teacher.tokenizer, teacher.spec)
    return load_teacher(folder, torch.device("cpu"))


def test_the_int8_model_is_repeatable_close_to_fp32_and_found_beside_the_teacher(
    tiny_bert, tmp_path
):
    fp32 = saved_teacher(tiny_bert, tmp_path / "teacher")
    first = export_int8(fp32, int8_folder(tmp_path / "teacher"))
    second = export_int8(fp32, tmp_path / "again")
    assert first == tmp_path / "teacher_int8" / ONNX_FILE
    assert first.read_bytes() == second.read_bytes()
    int8 = load_teacher(tmp_path / "teacher", torch.device("cpu"), precision="onnx_int8")
    texts = synthetic_reviews(16, seed=5)["text"].tolist()
    exact = fp32.logits(texts, INFERENCE, progress=False)
    approximate = int8.logits(texts, INFERENCE, progress=False)
    assert not np.array_equal(exact, approximate)
    # int8 weights and activations: within 10% of the largest logit (0.033 of 0.55 here)
    np.testing.assert_allclose(approximate, exact, atol=0.1 * np.abs(exact).max())
    np.testing.assert_array_equal(int8.logits(texts, INFERENCE, progress=False), approximate)


def test_a_missing_or_broken_int8_model_is_one_line_naming_the_stage(tiny_bert, tmp_path):
    saved_teacher(tiny_bert, tmp_path / "teacher")
    with pytest.raises(UserError, match=r"dvc repro quantize_teacher.*precision=fp32"):
        load_teacher(tmp_path / "teacher", torch.device("cpu"), precision="onnx_int8")
    broken = tmp_path / "teacher_int8" / ONNX_FILE
    broken.parent.mkdir()
    broken.write_bytes(b"not a model")
    with pytest.raises(UserError, match=r"not a readable ONNX model.*quantize_teacher"):
        load_teacher(tmp_path / "teacher", torch.device("cpu"), precision="onnx_int8")
    with pytest.raises(UserError, match="inference.precision=onnx_int8 is a CPU path"):
        load_teacher(tmp_path / "teacher", torch.device("meta"), precision="onnx_int8")
