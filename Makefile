# The two commands of the README: `make demo` and `make test` (each sets up .venv first).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORPUS ?= ../shared/corpus/check.py

.PHONY: all setup demo test test-fast corpus bench bench-quick fuzz clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch is pinned to the CPU wheel on these machines; JAX and SymPy are optional extras for cross-checks
	$(PY) -m pip install --quiet -e ".[test,jax,torch,bench]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest
	@if [ -f $(CORPUS) ]; then $(PY) $(CORPUS); fi

test-fast: $(STAMP)
	$(PY) -m pytest -x -q -m "not slow"

corpus: $(STAMP)
	$(PY) $(CORPUS)

fuzz: $(STAMP)
	$(PY) -m pytest --slow -q tests/

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

bench-quick: $(STAMP)
	$(PY) benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis
