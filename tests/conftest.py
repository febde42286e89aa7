"""Fixtures over the helpers in support.py: a tiny random BERT, a tiny IMDB-shaped dataset, and
the one end-to-end run of the tiny IMDB task."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import copy_run, make_repo, tiny_params, write_tiny_bert, write_tiny_imdb


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_imdb(tmp_path_factory) -> Path:
    return write_tiny_imdb(tmp_path_factory.mktemp("tiny_imdb"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_imdb, tiny_bert) -> Path:
    """The one end-to-end run of the IMDB-shaped task: `dvc repro` of the real dvc.yaml on
    tiny params in a temp git repo. Tests only read it; those that change things copy it or
    run a stage in a folder of their own that links its outputs."""
    folder = tmp_path_factory.mktemp("tiny_run")
    return make_repo(folder, tiny_imdb, tiny_params(tiny_imdb, tiny_bert))


@pytest.fixture
def repo(tiny_run, tmp_path) -> Path:
    """This test's own copy of the tiny run (git history, DVC cache and outputs)."""
    return copy_run(tiny_run, tmp_path / "repo")
