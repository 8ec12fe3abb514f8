# Everything runs inside a project-local virtual environment (.venv) created on demand.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev
PYTEST_ARGS ?=

.PHONY: venv test lint typecheck pytest demo benchmark simulator clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[$(EXTRAS)]"
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest $(PYTEST_ARGS)

## The test command from the README: linters, type checks and the whole test suite.
test: lint typecheck pytest

## The demo command from the README: the example DAG against the local simulator and a local S3 server.
demo: venv
	$(BIN)/python scripts/demo.py --storage s3

benchmark: venv
	$(BIN)/python benchmarks/transfer_memory.py

simulator: venv
	$(BIN)/langdock-simulator

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist
