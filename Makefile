# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Compiled numba kernels are cached here so repeated runs skip compilation.
export NUMBA_CACHE_DIR ?= $(CURDIR)/.cache/numba

.PHONY: install demo test test-all bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,jax,dask]"
	touch $(STAMP)

install: $(STAMP)

# The default virtual trial; prints where results.duckdb and report.html are.
demo: $(STAMP)
	$(BIN)/allocart run default --out runs/demo

test: $(STAMP)
	@$(BIN)/python -m pytest -m "not slow and not gpu" -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite must never be empty"; exit 1; fi; \
	exit $$rc

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/allocart bench engine --n 2000

clean:
	rm -rf $(VENV) .cache runs build src/*.egg-info
