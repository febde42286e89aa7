"""The teacher's model card: Hub metadata that parses, the validation accuracy with its Wilson
interval, and the same bytes from the same params and metrics wherever it is written."""

import math

import pytest
import yaml
from support import NLI_CLASSES, teacher_params, tiny_teacher

from bertdistill.core.errors import UserError
from bertdistill.teacher.model import MINILM_HUB_ID, MINILM_PACKAGE
from bertdistill.teacher.model_card import base_model, write_model_card
from bertdistill.teacher.training import save_teacher

METRICS = {
    "best_epoch": 2,
    "val_accuracy": 0.877,
    "final_train_loss": 0.1,
    "train_size": 2000,
    "validation_size": 1000,
    "parameters": 22565761,
}


@pytest.fixture
def teacher_folder(tiny_bert, tmp_path):
    teacher = tiny_teacher(tiny_bert)
    save_teacher(tmp_path / "teacher", teacher.model, teacher.tokenizer, teacher.spec)
    return tmp_path / "teacher"


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def wilson(correct: int, texts: int, z: float = 1.959964) -> tuple[float, float]:
    share = correct / texts
    centre = (share + z**2 / (2 * texts)) / (1 + z**2 / texts)
    half = z / (1 + z**2 / texts) * math.sqrt(share * (1 - share) / texts + z**2 / (4 * texts**2))
    return centre - half, centre + half


def test_the_card_holds_the_validation_accuracy_and_its_wilson_interval(teacher_folder):
    params = teacher_params(MINILM_PACKAGE)
    text = write_model_card(teacher_folder, params, METRICS, seed=42).read_text()
    low, high = wilson(877, 1000)
    assert f"**0.877 [{low:.3f}, {high:.3f}]**" in text
    assert "877 of 1,000 validation texts" in text and "95% Wilson score interval" in text
    for shown in ("22,565,761", "2,000 labelled IMDB texts", "Seed 42", "epoch 2"):
        assert shown in text, shown
    assert "first 8 and last 54 tokens" in text  # head+tail of max_len 64
    assert 'teacher_pipeline("models/teacher")' in text
    assert "AutoModelForSequenceClassification" in text


def test_the_front_matter_is_hub_metadata(teacher_folder):
    text = write_model_card(teacher_folder, teacher_params(MINILM_PACKAGE), METRICS, 42).read_text()
    metadata = front_matter(text)
    assert metadata["base_model"] == MINILM_HUB_ID
    assert metadata["pipeline_tag"] == "text-classification"
    assert metadata["datasets"] == ["stanfordnlp/imdb"]
    assert metadata["metrics"] == ["accuracy"]
    assert metadata["license"] == "apache-2.0"
    assert metadata["language"] == ["en"] and metadata["library_name"] and metadata["tags"]


def test_a_local_encoder_gives_no_base_model_and_no_path(teacher_folder, tiny_bert):
    params = teacher_params(tiny_bert)
    text = write_model_card(teacher_folder, params, METRICS, 42).read_text()
    metadata = front_matter(text)
    assert "base_model" not in metadata and "license" not in metadata
    assert str(tiny_bert) not in text and str(teacher_folder) not in text
    assert "The base model's license applies." in text
    assert base_model("bert-base-uncased") == "bert-base-uncased"
    assert base_model("/models/bert") is None


def test_the_same_params_and_metrics_give_the_same_bytes(teacher_folder, tiny_bert, tmp_path):
    params = teacher_params(MINILM_PACKAGE)
    first = write_model_card(teacher_folder, params, METRICS, 42).read_bytes()
    again = write_model_card(teacher_folder, params, METRICS, 42).read_bytes()
    teacher = tiny_teacher(tiny_bert)
    save_teacher(tmp_path / "elsewhere", teacher.model, teacher.tokenizer, teacher.spec)
    elsewhere = write_model_card(tmp_path / "elsewhere", params, METRICS, 42).read_bytes()
    assert first == again == elsewhere
    changed = write_model_card(teacher_folder, params, METRICS | {"val_accuracy": 0.9}, 42)
    assert changed.read_bytes() != first


def test_a_three_class_card_names_its_classes_and_softmax(teacher_folder):
    params = teacher_params(MINILM_PACKAGE)
    card = write_model_card(teacher_folder, params, METRICS, 42, "SNLI", NLI_CLASSES)
    text = card.read_text()
    assert "entailment, neutral, contradiction" in text and "softmax" in text
    assert front_matter(text)["datasets"] == ["stanfordnlp/snli"]


def test_metrics_without_the_validation_size_are_refused(teacher_folder):
    metrics = {key: value for key, value in METRICS.items() if key != "validation_size"}
    with pytest.raises(UserError, match="validation_size"):
        write_model_card(teacher_folder, teacher_params(MINILM_PACKAGE), metrics, 42)
