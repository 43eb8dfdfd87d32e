# Two commands do everything on a fresh machine:
#   make demo   set up .venv if needed, then run the quickstart study
#   make test   set up .venv if needed, then run the whole test suite
# `make setup` alone creates .venv: the CPU build of torch first (so pip never fetches CUDA
# wheels), then this project in editable mode with its test extras.

VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test clean-runs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PY) -m search.launch studies/quickstart.yaml

test: setup
	$(PY) -m pytest

clean-runs:
	rm -rf runs
