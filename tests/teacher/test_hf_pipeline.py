"""The teacher as a transformers pipeline: the project's probabilities under the pipeline's
labels and answer shapes, on a tiny random teacher saved as the stage saves it."""

import json

import numpy as np
import pytest
import torch
from support import NLI_CLASSES, synthetic_pairs, synthetic_reviews, tiny_teacher
from transformers import AutoModel, AutoTokenizer, Pipeline, TextClassificationPipeline

from bertdistill.core.logits import class_proba
from bertdistill.core.params import BatchingParams
from bertdistill.teacher.hf_pipeline import teacher_pipeline
from bertdistill.teacher.inference import load_teacher
from bertdistill.teacher.model import BertClassifier, EncodingSpec
from bertdistill.teacher.training import save_teacher

BATCHING = BatchingParams(batch_tokens=256, max_batch_size=4)
# Short reviews, and long ones whose head+tail cut a pipeline's own tokenizer would not make
TEXTS = [*synthetic_reviews(6, seed=5)["text"], " ".join(["great film"] * 40 + ["awful"] * 30)]


@pytest.fixture
def teacher_folder(tiny_bert, tmp_path):
    teacher = tiny_teacher(tiny_bert, seed=3)
    torch.nn.init.normal_(teacher.model.classifier.weight, std=2.0)  # scores far from 0.5
    with torch.no_grad():  # ... and each class the top one for some of the texts
        teacher.model.classifier.bias -= float(np.median(teacher.logits(TEXTS, BATCHING, False)))
    save_teacher(tmp_path / "teacher", teacher.model, teacher.tokenizer, teacher.spec)
    return tmp_path / "teacher"


def project_proba(folder, texts) -> np.ndarray:
    teacher = load_teacher(folder, torch.device("cpu"))
    return class_proba(teacher.logits(texts, BATCHING, progress=False))


def by_label(answer: list[dict], labels) -> list[float]:
    scores = {entry["label"]: entry["score"] for entry in answer}
    return [scores[label] for label in labels]


def test_it_is_a_text_classification_pipeline(teacher_folder):
    classify = teacher_pipeline(teacher_folder, device="cpu")
    assert isinstance(classify, TextClassificationPipeline) and isinstance(classify, Pipeline)
    assert classify.device == torch.device("cpu")


@pytest.mark.parametrize("batch_size", [1, 3])
def test_its_probabilities_are_the_teachers(teacher_folder, batch_size):
    expected = project_proba(teacher_folder, TEXTS)
    assert len(np.unique(expected.argmax(axis=1))) == 2  # both classes win somewhere
    classify = teacher_pipeline(teacher_folder, device="cpu", batch_size=batch_size)
    answers = classify(TEXTS, top_k=None)
    got = np.array([by_label(answer, ("negative", "positive")) for answer in answers])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_the_default_answer_is_the_top_class_and_top_k_none_every_class(teacher_folder):
    expected = project_proba(teacher_folder, TEXTS[:2])
    classify = teacher_pipeline(teacher_folder, device="cpu")
    classes = ("negative", "positive")
    single = classify(TEXTS[0])  # one text: a list holding one dict, as transformers answers
    assert single == [
        {"label": classes[expected[0].argmax()], "score": pytest.approx(expected[0].max())}
    ]
    assert [answer["label"] for answer in classify(TEXTS[:2])] == [
        classes[best] for best in expected.argmax(axis=1)
    ]
    every = classify(TEXTS[0], top_k=None)
    assert [entry["label"] for entry in every] == [classes[i] for i in np.argsort(-expected[0])]
    assert sum(entry["score"] for entry in every) == pytest.approx(1.0)
    assert classify(TEXTS[:2], top_k=1) == [[answer] for answer in classify(TEXTS[:2])]


def test_class_names_come_from_the_folder_and_default_to_negative_positive(teacher_folder):
    teacher = load_teacher(teacher_folder, torch.device("cpu"))
    renamed = teacher_folder.parent / "renamed"
    save_teacher(renamed, teacher.model, teacher.tokenizer, teacher.spec, ("bad", "good"))
    assert {entry["label"] for entry in teacher_pipeline(renamed)(TEXTS[0], top_k=None)} == {
        "bad",
        "good",
    }
    # a folder saved before the classes were named holds transformers' placeholders
    config = json.loads((renamed / "config.json").read_text())
    config["id2label"], config["label2id"] = {"0": "LABEL_0", "1": "LABEL_1"}, {}
    (renamed / "config.json").write_text(json.dumps(config))
    labels = {entry["label"] for entry in teacher_pipeline(renamed)(TEXTS[0], top_k=None)}
    assert labels == {"negative", "positive"}


def test_a_three_class_pair_teacher_gives_its_softmax_under_its_class_names(tiny_bert, tmp_path):
    torch.manual_seed(1)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    encoder = AutoModel.from_pretrained(tiny_bert, add_pooling_layer=False)
    model = BertClassifier(encoder, "mean", 0.0, tokenizer.sep_token_id, num_logits=3).eval()
    spec = EncodingSpec(max_len=24, truncation="head_tail", head_tokens=8, pooling="mean")
    save_teacher(tmp_path / "nli", model, tokenizer, spec, NLI_CLASSES)
    pairs = synthetic_pairs(5, seed=4)
    texts = list(zip(pairs["premise"], pairs["hypothesis"], strict=True))
    answers = teacher_pipeline(tmp_path / "nli", device="cpu")(
        [{"text": premise, "text_pair": hypothesis} for premise, hypothesis in texts], top_k=None
    )
    got = np.array([by_label(answer, NLI_CLASSES) for answer in answers])
    np.testing.assert_allclose(got, project_proba(tmp_path / "nli", texts), atol=1e-6)


def test_arguments_that_would_change_the_scores_are_refused(teacher_folder):
    classify = teacher_pipeline(teacher_folder, device="cpu")
    with pytest.raises(TypeError, match="function_to_apply"):
        classify(TEXTS[0], function_to_apply="softmax")
    with pytest.raises(TypeError, match="truncation"):
        classify(TEXTS[0], truncation=True)
