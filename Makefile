# Two commands do everything on a fresh machine:
#   make demo   set up .venv if needed, then run the quickstart study
#   make test   set up .venv if needed, then run the whole test suite
#   make test-fast   the inner loop: every test not marked slow (no processes, Ray, PostgreSQL,
#               browser, container engine or MNIST training)
# `make setup` alone creates .venv: the CPU build of torch first (so pip never fetches CUDA
# wheels), then this project in editable mode with its test extras.

VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test test-fast lint bench clean-runs

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

test-fast: setup
	$(PY) -m pytest -m "not slow"

# ruff (pinned in the test extras): lint rules and formatting as configured in pyproject.toml
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Every benchmark in benchmarks/, one after another, each printing its own markdown table (bench_imp: JSON)
# (hours on a 2-core CPU; docs/results/performance.md has the tables and the machine).
# PostgreSQL rows need SPARSESEARCH_TEST_POSTGRES; benchmarks/reliability.py is separate (root).
bench: setup
	$(PY) benchmarks/bench_dendritic.py
	$(PY) benchmarks/bench_imp_level.py
	$(PY) benchmarks/bench_population.py
	$(PY) benchmarks/bench_service.py
	$(PY) benchmarks/bench_search.py
	$(PY) benchmarks/bench_imp.py trial

clean-runs:
	rm -rf runs
