"""conf/ (Hydra) composes into params.yaml: the committed file, and the paper profile."""

import pytest
import yaml
from test_config import SECTIONS

from bertdistill.config import AugmentParams, load_section, load_seed
from bertdistill.errors import UserError
from bertdistill.profiles import ROOT, compose


def test_committed_params_yaml_is_the_composed_cpu_profile():
    assert (ROOT / "params.yaml").read_text(encoding="utf-8") == compose([])


def test_paper_profile_is_bert_base_on_all_of_imdb_and_valid():
    cpu, paper = yaml.safe_load(compose([])), yaml.safe_load(compose(["profile=paper"]))
    assert paper["profile"] == "paper" and cpu["profile"] == "cpu"
    teacher = paper["finetune_teacher"]
    assert (teacher["model"], teacher["max_len"], teacher["head_tokens"]) == (
        "bert-base-uncased",
        512,
        128,
    )
    prepare = paper["prepare"]
    assert prepare["test_size"] is None
    assert prepare["train_size"] + prepare["val_size"] == 25_000  # all of IMDB's labelled reviews
    assert load_seed(paper) == cpu["seed"]
    for name, cls in {**SECTIONS, "augment": AugmentParams}.items():
        load_section(paper, name, cls)  # raises on any unknown, missing or mistyped key
    # A profile only overrides: the students, LIME and augmentation settings stay the CPU ones.
    for name in ("distill_students", "explain", "augment", "evaluate"):
        assert paper[name] == cpu[name]


def test_a_key_override_composes_on_top_of_a_profile():
    params = yaml.safe_load(compose(["profile=paper", "finetune_teacher.epochs=3"]))
    assert params["finetune_teacher"]["epochs"] == 3
    assert params["finetune_teacher"]["model"] == "bert-base-uncased"


def test_an_unknown_profile_is_one_clear_error():
    with pytest.raises(UserError, match="profile=gpu"):
        compose(["profile=gpu"])
