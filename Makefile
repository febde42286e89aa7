# Two entry points: `make repro` runs the pipeline, `make test` runs lint and tests.
# Both create the virtual environment and install pinned dependencies first if needed.
PYTHON_BIN ?= python3
VENV ?= .venv
TORCH_VERSION := 2.13.0
BIN := $(VENV)/bin
# DVC stage commands call `python`: put the environment first on PATH.
RUN := PATH="$(abspath $(BIN)):$$PATH"

.PHONY: setup repro test lint params clean-venv

setup: $(VENV)/.installed

# torch first: installed alone it takes the CPU wheel; pulled in by another package it would be
# a multi-GB CUDA build.
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON_BIN) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

repro: setup
	$(RUN) dvc repro

# params.yaml is composed from conf/ (Hydra, as `dvc exp run -S ...` does): run after editing conf/.
params: setup
	$(RUN) python tools/compose_params.py

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

test: lint
	$(RUN) python -m pytest

clean-venv:
	rm -rf $(VENV)
