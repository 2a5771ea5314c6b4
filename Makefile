# One entry point per job. `make install` then `make test`; `make harness-up` runs the stack.
SHELL := /bin/bash
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install test test-fast lint bench images docs harness-up harness-down clean

$(BIN)/harness: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/harness

install: $(BIN)/harness

# Every test, Docker and slow ones included (what CI runs). Exit 5 (nothing collected) fails too.
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

# Unit tests only: no Docker engine, no model run.
test-fast: install
	$(BIN)/pytest -m "not docker and not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Engine images this host can run (base + cpu; sglang where a GPU is visible). Idempotent.
images: install
	$(BIN)/python -m harness.sandbox.images

# The configuration reference is generated from the settings model (tests/test_config.py checks it is current).
docs: install
	$(BIN)/harness config --reference > docs/configuration.md

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
