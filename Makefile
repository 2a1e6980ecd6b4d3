# The two commands of the README: `make demo` and `make test` (each sets up .venv first).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORPUS ?= ../shared/corpus/check.py
TEST_WORKERS ?= auto
# KaTeX for the page of `matdiff serve`, pinned in package.json, served from here (never a CDN)
KATEX_DIR := src/matdiff/web/static/vendor/katex
KATEX := $(KATEX_DIR)/katex.min.js

.PHONY: all setup vendor demo test test-fast corpus bench bench-quick fuzz serve clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch is pinned to the CPU wheel on these machines; JAX and SymPy are optional extras for cross-checks
	$(PY) -m pip install --quiet -e ".[test,jax,torch,bench]"
	touch $(STAMP)

# Without npm the page still works, showing math as plain text; the rule then runs again next time.
$(KATEX): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error && \
		rm -rf $(KATEX_DIR) && mkdir -p $(KATEX_DIR) && \
		cp -r node_modules/katex/dist/fonts node_modules/katex/LICENSE $(KATEX_DIR)/ && \
		cp node_modules/katex/dist/katex.min.css node_modules/katex/dist/katex.min.js $(KATEX_DIR)/; \
	else \
		echo "npm not found: skipping KaTeX, so the page of 'matdiff serve' shows math as plain text"; \
	fi

vendor: $(KATEX)

setup: $(STAMP) $(KATEX)

demo: setup
	$(PY) examples/demo.py

serve: setup
	$(VENV)/bin/matdiff serve

# the suite on every core (pytest-xdist, a file per worker), then the tests that measure time or memory alone
test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not alone"
	$(PY) -m pytest -m alone
	@if [ -f $(CORPUS) ]; then $(PY) $(CORPUS) && $(PY) $(CORPUS) $(dir $(CORPUS))next/ml2.toml \
		&& $(PY) $(CORPUS) $(dir $(CORPUS))next/tensors.toml; \
	else echo "corpus skipped: $(CORPUS) is not here (the corpus tests were skipped too)"; fi

test-fast: $(STAMP)
	$(PY) -m pytest -x -q -m "not slow"

corpus: $(STAMP)
	$(PY) $(CORPUS)

# the property tests with many examples, then 100,000 random and mutated inputs (tests/fuzz.py --help)
fuzz: $(STAMP)
	$(PY) -m pytest --slow -q tests/
	$(PY) tests/fuzz.py --count 100000 --seed $(or $(SEED),0)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

bench-quick: $(STAMP)
	$(PY) benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .hypothesis node_modules src/matdiff/web/static/vendor
