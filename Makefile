# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Compiled numba kernels are cached here so repeated runs skip compilation.
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba

.PHONY: install demo test test-acceptance test-all lint docs bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,jax,dask,dev]"
	touch $(STAMP)

install: $(STAMP)

# The default virtual trial; prints where results.duckdb and report.html are.
demo: $(STAMP)
	$(BIN)/allocart run default --out runs/demo

test: $(STAMP)
	@$(BIN)/python -m pytest -m "not slow and not gpu" -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite must never be empty"; exit 1; fi; \
	exit $$rc

# The slow acceptance checks CI runs besides the default suite: parameter recovery of the
# population fit over 100 replicates, the 3+3 simulator against its exact operating
# characteristics at 1e5 trials.
test-acceptance: $(STAMP)
	$(BIN)/python -m pytest -m "acceptance and not gpu" -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

# ruff (lint and format), mypy, and the import contracts of docs/ARCHITECTURE.md.
lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# The documentation site in site/: guides, API reference, tutorials executed during the build
# (a failing example fails the build). Offline: nothing is fetched.
# NO_MKDOCS_2_WARNING: the theme's notice about its successor, printed on every build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/allocart bench engine --n 2000

clean:
	rm -rf $(VENV) .cache runs build site src/*.egg-info
