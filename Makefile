# Two entry points: `make repro` runs the pipeline, `make test` runs lint and tests.
# Both create the virtual environment and install pinned dependencies first if needed.
PYTHON_BIN ?= python3
VENV ?= .venv
TORCH_VERSION := 2.13.0
# Where torch comes from. PyTorch's CPU wheel index: about 200 MB, no CUDA libraries. Where that
# index cannot be reached, PyPI, whose Linux wheel is the CUDA build (several GB of NVIDIA
# libraries; on some mirrors a CPU wheel). For a GPU machine, e.g.
# `make setup TORCH_INDEX=https://download.pytorch.org/whl/cu128`.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
BIN := $(VENV)/bin
# DVC stage commands call `python`: put the environment first on PATH.
RUN := PATH="$(abspath $(BIN)):$$PATH"

.PHONY: setup data repro snli exps test lint clean-venv

setup: $(VENV)/.installed

# torch first, from TORCH_INDEX (PyPI if that index does not answer within seconds): pulled in
# by another package from PyPI it would be the multi-GB CUDA build.
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON_BIN) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet --timeout 10 --retries 1 --index-url $(TORCH_INDEX) \
	    torch==$(TORCH_VERSION) 2>/dev/null || { \
	  echo "$(TORCH_INDEX) not reachable: torch $(TORCH_VERSION) from PyPI instead" >&2; \
	  $(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION); }
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# The default data enters through DVC: data/imdb.dvc imports ../shared/data/imdb into the cache
# (once; later checkouts come from the cache), so DVC's temp copies for --temp and --queue
# experiments find it. Where ../shared is not beside the project, tools/fetch_imdb.py imports the
# official archive from IMDB_URL instead (84 MB, checked against IMDB_MD5; data/imdb becomes the
# archive, which prepare reads as it is). With your own copy:
# `dvc import-url --force /path/to/imdb data/imdb`.
IMDB_URL ?= https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz
IMDB_MD5 ?= 7c2ac02c03563afcf9b574c7e56c153a
data: setup
	$(RUN) dvc checkout -q data/imdb.dvc 2>/dev/null || \
	if [ -e ../shared/data/imdb ]; then $(RUN) dvc update data/imdb.dvc; \
	else $(RUN) python tools/fetch_imdb.py --url "$(IMDB_URL)" --md5 "$(IMDB_MD5)" data/imdb; fi
	@# SNLI (for `make snli`) too where it is beside the project, so `dvc status` finds it
	-@$(RUN) dvc checkout -q data/snli.dvc 2>/dev/null || $(RUN) dvc update -q data/snli.dvc 2>/dev/null || true

repro: data
	$(RUN) dvc repro

# SNLI, the paper's abandoned task, as an experiment (docs/sentence-pairs.md): data/snli.dvc
# imports ../shared/data/snli; conf/profiles/snli.yaml's settings are applied to params.yaml (its
# class list does not survive the shell as a -S flag; `git checkout params.yaml` undoes them).
snli: setup
	$(RUN) dvc checkout -q data/snli.dvc 2>/dev/null || $(RUN) dvc update data/snli.dvc || { \
	  echo "data/snli.dvc imports ../shared/data/snli, which is not here: import your copy with" \
	    "'dvc import-url --force /path/to/snli data/snli'" >&2; exit 2; }
	$(RUN) python tools/profile_args.py snli --apply
	$(RUN) dvc exp run

# Experiments in a table a terminal holds (`dvc exp show` alone lists every param and dependency,
# some 180 columns): the teacher's test accuracy, each distilled student's accuracy gain over its
# gold-label twin, fine-tuning's step (live while an experiment runs), and the params that differ
# (no Created and Executor columns, to leave room).
# `dvc metrics show` has the rest of the headline; `dvc exp show --keep REGEX` picks other columns.
EXPS_KEEP := ^(accuracy|step|metrics/accuracy/\w+\.json:gain)$$
exps:
	@$(RUN) dvc exp show --no-pager --only-changed --keep '$(EXPS_KEEP)' --drop 'Created|Executor|.*/.*|.*_loss|val_accuracy'

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

test: lint
	$(RUN) python -m pytest

clean-venv:
	rm -rf $(VENV)
