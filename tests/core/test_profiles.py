"""Profiles are lists of `-S` settings applied to params.yaml, the one file of settings."""

import shutil
import subprocess
import sys

import pytest
import yaml
from support import ROOT, SECTIONS

from bertdistill.core.errors import UserError
from bertdistill.core.params import AugmentParams, ExplainParams, PrepareParams
from bertdistill.core.params_file import load_params, load_section, load_seed
from bertdistill.core.profiles import apply, check_keys, load_profile, overrides, shell_flags

PROFILES = sorted(path.stem for path in (ROOT / "conf/profiles").glob("*.yaml"))


def applied(tmp_path, name: str) -> tuple[dict, str]:
    """params.yaml with profile ``name`` applied: (values, text)."""
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    apply(params, overrides(load_profile(name)))
    return load_params(params), params.read_text(encoding="utf-8")


def test_paper_profile_is_bert_base_on_all_of_imdb_and_valid(tmp_path):
    cpu = yaml.safe_load((ROOT / "params.yaml").read_text())
    paper, text = applied(tmp_path, "paper")
    teacher = paper["finetune_teacher"]
    assert (teacher["model"], teacher["max_len"], teacher["head_tokens"]) == (
        "bert-base-uncased",
        512,
        128,
    )
    assert (teacher["precision"], paper["inference"]["precision"]) == ("bf16", "bf16")
    prepare = paper["prepare"]
    assert prepare["test_size"] is None
    assert prepare["train_size"] + prepare["val_size"] == 25_000  # all of IMDB's labelled reviews
    assert load_seed(paper) == cpu["seed"]
    for name, cls in {**SECTIONS, "augment": AugmentParams}.items():
        load_section(paper, name, cls)  # raises on any unknown, missing or mistyped key
    # A profile only overrides: the students, LIME and augmentation settings stay the CPU ones.
    for name in ("distill_students", "explain", "augment", "evaluate"):
        assert paper[name] == cpu[name]
    # params.yaml keeps its comments: the file a user edits stays readable after a profile.
    assert "# gold-labelled reviews" in text and text.count("#") > 40
    assert shell_flags(overrides(load_profile("paper"))).startswith("-S ")


def test_snli_profile_reads_pairs_of_three_classes_from_dev_and_scores_all_of_test(tmp_path):
    snli, _ = applied(tmp_path, "snli")
    prepare = load_section(snli, "prepare", PrepareParams)
    assert (prepare.text_column, prepare.pair_column) == ("premise", "hypothesis")
    assert prepare.classes == ("entailment", "neutral", "contradiction")
    assert prepare.files == {"train": "dev", "test": "test", "unsup": "dev"}
    assert prepare.test_size is None and snli["augment"]["n_augment"] == 0
    assert load_section(snli, "explain", ExplainParams).guided_share == 1.0  # short: occlude all
    # 9,842 dev pairs: the labelled, validation and unlabelled pairs must fit in them
    assert prepare.train_size + prepare.val_size + prepare.unlabeled_size <= 9_842 - 1
    with pytest.raises(UserError, match="--apply"):  # the class list: `make snli` applies it
        shell_flags(overrides(load_profile("snli")))


def test_overrides_are_the_flags_dvc_takes():
    profile = {"prepare": {"test_size": None, "source": "data/x"}, "seed": 3, "a": {"b": [1, 2]}}
    assert overrides(profile) == [
        "prepare.test_size=null",
        "prepare.source=data/x",
        "seed=3",
        "a.b=[1,2]",
    ]


def test_the_cli_prints_dvc_exp_run_flags():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/profile_args.py"), "paper"],
        capture_output=True,
        text=True,
        check=True,
    )
    flags = result.stdout.split()
    assert flags[0::2] == ["-S"] * (len(flags) // 2)
    assert "finetune_teacher.model=bert-base-uncased" in flags[1::2]


def test_a_profile_key_missing_from_params_is_one_clear_error():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    with pytest.raises(UserError, match="'finetune_teacher.epoch' is not in params.yaml"):
        check_keys({"finetune_teacher": {"epoch": 2}}, params)
    for path in (ROOT / "conf/profiles").glob("*.yaml"):
        check_keys(load_profile(path.stem), params)


def test_an_unknown_profile_names_the_known_ones():
    with pytest.raises(UserError, match="known profiles are paper"):
        load_profile("gpu")


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_applies_to_params_yaml_and_loads(tmp_path, name):
    params, _ = applied(tmp_path, name)
    for section, cls in {**SECTIONS, "augment": AugmentParams}.items():
        load_section(params, section, cls)  # raises on any unknown, missing or mistyped key


def test_a_setting_the_shell_would_split_or_expand_is_refused():
    assert shell_flags(["a.b=1", "c=x-y"]) == "-S a.b=1 -S c=x-y"
    for setting in ("launcher=torchrun --standalone", "a.b=[1,2]", "a=it's"):
        with pytest.raises(UserError, match="--apply"):
            shell_flags([setting])
