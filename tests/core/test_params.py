import re

import pytest
import yaml
from support import ROOT, SECTIONS

from bertdistill.core.errors import UserError
from bertdistill.core.params import (
    ExplainParams,
    PrepareParams,
    StudentParams,
    TeacherParams,
)
from bertdistill.core.params_file import load_params, load_section, load_seed

# The committed file read as plain YAML, apart from load_params: what the sections must hold.
COMMITTED = yaml.safe_load((ROOT / "params.yaml").read_text())
# The only keys a user may leave out, and the value each then takes.
OPTIONAL = {
    "prepare.min_chars": 1,
    "prepare.drop_test_duplicates": False,
    "prepare.text_column": "text",
    "prepare.label_column": "label",
    "prepare.pair_column": None,
    "prepare.classes": None,
    "prepare.train_split": None,
    "prepare.test_split": None,
    "prepare.unlabeled_split": None,
    "finetune_teacher.batch_tokens": None,
    "finetune_teacher.seed": None,
}


def leaf_keys(mapping: dict, prefix: str) -> list[str]:
    """Dotted names of the values in a section, nested sections (tfidf) followed."""
    keys = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            keys += leaf_keys(value, f"{prefix}.{key}")
        else:
            keys.append(f"{prefix}.{key}")
    return keys


LEAVES = [key for section in SECTIONS for key in leaf_keys(COMMITTED[section], section)]


def parent_of(params: dict, dotted: str) -> tuple[dict, str]:
    *path, key = dotted.split(".")
    for part in path:
        params = params[part]
    return params, key


def loaded_value(params: dict, dotted: str):
    section, *path = dotted.split(".")
    value = load_section(params, section, SECTIONS[section])
    for part in path:
        value = getattr(value, part)
    return value


@pytest.fixture()
def params():
    return load_params("params.yaml")


def test_every_mapping_in_params_yaml_is_a_known_section():
    assert {name for name, value in COMMITTED.items() if isinstance(value, dict)} == set(SECTIONS)
    assert len(LEAVES) > 40  # a few keys per section, nested tfidf included


def test_committed_params_load_with_every_key_and_value(params):
    assert load_seed(params) == COMMITTED["seed"]
    for name in SECTIONS:
        fields = set(SECTIONS[name].model_fields)
        assert fields == set(COMMITTED[name]), name
    for key in LEAVES:
        expected, leaf = parent_of(COMMITTED, key)
        expected = expected[leaf]
        value = loaded_value(params, key)
        if isinstance(value, tuple):
            # candidate lists: YAML lists (or one scalar) become tuples
            assert list(value) == (expected if isinstance(expected, list) else [expected]), key
        else:
            assert value == expected and isinstance(value, type(expected) | float), key


@pytest.mark.parametrize("section", [*SECTIONS, "distill_students.tfidf"])
def test_an_unknown_key_in_any_section_is_named(params, section):
    parent, _ = parent_of(params, f"{section}.x")
    parent["not_a_key"] = 1
    with pytest.raises(UserError, match=rf"^unknown params key '{re.escape(section)}\.not_a_key'"):
        loaded_value(params, section)


@pytest.mark.parametrize("key", LEAVES)
def test_a_missing_key_is_named_unless_it_has_a_default(params, key):
    parent, leaf = parent_of(params, key)
    del parent[leaf]
    if key in OPTIONAL:
        assert loaded_value(params, key) == OPTIONAL[key]
    else:
        with pytest.raises(UserError, match=rf"^params key '{re.escape(key)}' is missing"):
            loaded_value(params, key)


@pytest.mark.parametrize("key", LEAVES)
def test_a_mistyped_key_is_named(params, key):
    parent, leaf = parent_of(params, key)
    parent[leaf] = {"not": "a value"}
    # a candidate list names the element: 'distill_students.lr_C[0]'
    with pytest.raises(UserError, match=rf"^params key '{re.escape(key)}(\[0\])?' must be "):
        loaded_value(params, key)


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
        ("finetune_teacher", "seed", -1, "'finetune_teacher.seed' must not be negative"),
        ("finetune_teacher", "seed", "one", "must be int"),
        ("distill_students", "target", "labels", "must be one of logits, probabilities"),
        ("inference", "batch_tokens", 0, "must be positive"),
        ("prepare", "dataset", " ", "must not be empty"),
        ("prepare", "dataset", 5, "must be str"),
        ("prepare", "text_column", "", "must not be empty"),
        ("prepare", "label_column", "text", "are both 'text'"),
        ("prepare", "pair_column", "text", "are both 'text'"),
        ("prepare", "pair_column", " ", "must not be empty"),
        ("prepare", "classes", ["entailment"], "two or more distinct class names"),
        ("prepare", "classes", ["Yes", "yes"], "two or more distinct class names"),
        ("prepare", "classes", ["yes", " "], "two or more distinct class names"),
        ("prepare", "test_split", "train", "test on a file the labelled pool does not come from"),
        ("prepare", "train_split", "test", "test on a file the labelled pool does not come from"),
        ("prepare", "unlabeled_split", "", "must not be empty"),
        ("evaluate", "bootstrap_resamples", 999, "needs at least 1,000 resamples, raise it"),
        ("distill_students", "seeds", 0, "must be positive"),
        ("distill_students", "unlabeled_limit", -1, "must not be negative"),
        ("distill_students", "n_jobs", 0, "give a count of processes"),
        ("distill_students", "n_jobs", -2, "or -1 for one per core"),
        ("explain", "min_interval_reviews", 201, "fewer than explain.min_interval_reviews"),
        ("explain", "occlusion_reviews", 201, "more than explain.num_reviews"),
        ("explain", "lime_reviews", -1, "must not be negative"),
        ("explain", "deletion_share", 1.5, "must be in"),
        ("explain", "deletion_share", 0, r"must be in \(0, 1\]"),
        ("explain", "guided_share", 0.0, r"must be in \(0, 1\]"),
        ("explain", "ig_steps", 0, "must be positive"),
        ("explain", "bootstrap_resamples", 500, "needs at least 1,000 resamples, raise it"),
    ],
)
def test_bad_values_fail_with_the_key(params, section, key, value, message):
    params[section][key] = value
    with pytest.raises(UserError, match=message) as raised:
        load_section(params, section, SECTIONS[section])
    assert f"{section}.{key}" in str(raised.value)


def test_missing_section(params):
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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "seed: 1\nprepare:\n  source: x\n   bad: 2\n",
            "is not valid YAML at line 4, column 7: mapping values are not allowed here",
        ),
        (
            "seed: [1, 2\n",
            "is not valid YAML at line 2, column 1: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence at line 1)",
        ),
        (
            "seed: 1\nseed: 2\n",
            'is not valid YAML at line 2, column 1: found duplicate key "seed" with value "2" '
            '(original value: "1") (while constructing a mapping at line 1)',
        ),
        ("seed: 1\n# caf\xe9\n", "is not UTF-8 text: byte 0xe9 at offset 13: convert it"),
    ],
    ids=["indent", "unclosed", "duplicate", "latin1"],
)
def test_a_broken_params_file_is_one_line_naming_file_line_and_column(tmp_path, text, message):
    broken = tmp_path / "params.yaml"
    broken.write_bytes(text.encode("latin-1"))
    with pytest.raises(UserError) as error:
        load_params(broken)
    assert str(error.value).startswith(f"{broken} {message}")
    assert "\n" not in str(error.value)


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
