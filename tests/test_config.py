import dataclasses

import pytest
import yaml

from bertdistill.config import (
    EvaluateParams,
    ExplainParams,
    InferenceParams,
    PrepareParams,
    StudentParams,
    TeacherParams,
    load_params,
    load_section,
    load_seed,
)
from bertdistill.errors import UserError

SECTIONS = {
    "prepare": PrepareParams,
    "finetune_teacher": TeacherParams,
    "inference": InferenceParams,
    "distill_students": StudentParams,
    "evaluate": EvaluateParams,
    "explain": ExplainParams,
}


@pytest.fixture()
def params():
    return load_params("params.yaml")


def test_committed_params_load_into_every_section(params):
    assert load_seed(params) == params["seed"]
    for name, cls in SECTIONS.items():
        section = load_section(params, name, cls)
        assert dataclasses.is_dataclass(section)


def test_unknown_key_names_the_key_and_the_valid_ones(params):
    params["finetune_teacher"]["learning_rate"] = 1e-4
    with pytest.raises(UserError, match=r"unknown params key 'finetune_teacher.learning_rate'.*lr"):
        load_section(params, "finetune_teacher", TeacherParams)


def test_nested_unknown_key_is_caught(params):
    params["distill_students"]["tfidf"]["ngrams"] = 3
    with pytest.raises(UserError, match=r"distill_students.tfidf.ngrams"):
        load_section(params, "distill_students", StudentParams)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("prepare", "train_size", -5, "must be positive"),
        ("prepare", "train_size", "many", "must be int"),
        ("prepare", "test_size", 0, "must be positive"),
        ("finetune_teacher", "pooling", "max", "must be one of pooler, cls, mean"),
        ("finetune_teacher", "head_tokens", 300, "leaves no room for the tail"),
        ("finetune_teacher", "epochs", True, "must be int"),
        ("distill_students", "target", "labels", "must be one of logits, probabilities"),
        ("inference", "batch_tokens", 0, "must be positive"),
        ("prepare", "dataset", " ", "must not be empty"),
        ("prepare", "dataset", 5, "must be str"),
        ("prepare", "text_column", "", "must not be empty"),
        ("prepare", "label_column", "text", "are both 'text'"),
    ],
)
def test_bad_values_fail_with_the_key(params, section, key, value, message):
    params[section][key] = value
    with pytest.raises(UserError, match=message) as raised:
        load_section(params, section, SECTIONS[section])
    assert f"{section}.{key}" in str(raised.value)


def test_missing_key_and_section(params):
    del params["explain"]["top_k"]
    with pytest.raises(UserError, match="'explain.top_k' is missing"):
        load_section(params, "explain", ExplainParams)
    del params["prepare"]["dataset"]
    with pytest.raises(UserError, match="'prepare.dataset' is missing"):
        load_section(params, "prepare", PrepareParams)
    with pytest.raises(UserError, match="section 'nope' is missing"):
        load_section(params, "nope", ExplainParams)


def test_ints_are_accepted_for_floats_and_null_for_optional(params):
    params["finetune_teacher"]["lr"] = 1
    params["prepare"]["test_size"] = None
    assert load_section(params, "finetune_teacher", TeacherParams).lr == 1.0
    assert load_section(params, "prepare", PrepareParams).test_size is None


def test_bad_seed_and_bad_file(tmp_path):
    with pytest.raises(UserError, match="seed"):
        load_seed({"seed": -1})
    with pytest.raises(UserError, match="not found"):
        load_params(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("seed: [1,\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_params(broken)
    broken.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(UserError, match="must be a mapping"):
        load_params(broken)


def test_candidate_lists_accept_a_scalar_or_a_list(params):
    params["distill_students"]["lr_C"] = 2
    params["distill_students"]["tree_max_depth"] = [5, 10]
    section = load_section(params, "distill_students", StudentParams)
    assert section.lr_C == (2.0,)
    assert section.tree_max_depth == (5, 10)
    params["distill_students"]["svm_C"] = [1.0, -1.0]
    with pytest.raises(UserError, match=r"distill_students.svm_C\[1\]' must be positive"):
        load_section(params, "distill_students", StudentParams)
    params["distill_students"]["svm_C"] = []
    with pytest.raises(UserError, match="must list at least one value"):
        load_section(params, "distill_students", StudentParams)


def test_params_are_read_as_dvc_writes_them(tmp_path):
    """`dvc exp run -S finetune_teacher.lr=2e-5` writes `2e-05`: a YAML 1.2 float."""
    path = tmp_path / "params.yaml"
    path.write_text("seed: 1\nfinetune_teacher:\n  lr: 2e-05\n  batch_tokens:\n")
    params = load_params(path)
    assert params["finetune_teacher"] == {"lr": 2e-05, "batch_tokens": None}
