# Everything runs inside a project-local virtual environment (.venv) created on demand.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev
PYTEST_ARGS ?=
# The oldest Airflow line we support, tested in a second virtual environment.
AIRFLOW2_VENV ?= .venv-airflow2
AIRFLOW2_VERSION ?= 2.11.*

.PHONY: venv venv-airflow2 node_modules postgresql test lint typecheck pytest pytest-airflow2 demo benchmark simulator clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[$(EXTRAS)]"
	touch $@

venv-airflow2: $(AIRFLOW2_VENV)/.installed

$(AIRFLOW2_VENV)/.installed: pyproject.toml
	test -x $(AIRFLOW2_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW2_VENV)
	$(AIRFLOW2_VENV)/bin/python -m pip install --quiet --upgrade pip uv
	$(AIRFLOW2_VENV)/bin/uv pip install --quiet --python $(AIRFLOW2_VENV)/bin/python -e ".[$(EXTRAS)]" "apache-airflow==$(AIRFLOW2_VERSION)"
	touch $@

## Test services from the npm registry (Azurite), pinned in package.json and package-lock.json.
node_modules: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## A real PostgreSQL for the DDL tests (Debian's package; the tests start their own server on a unix socket).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
	  $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends postgresql; }

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

pytest: venv node_modules postgresql
	LANGDOCK_POSTGRES_REQUIRED=1 $(BIN)/pytest $(PYTEST_ARGS)

pytest-airflow2: venv-airflow2 node_modules postgresql
	LANGDOCK_POSTGRES_REQUIRED=1 $(AIRFLOW2_VENV)/bin/pytest $(PYTEST_ARGS)

## The test command from the README: linters, type checks, the whole suite on Airflow 3 and on Airflow 2.11.
test: lint typecheck pytest pytest-airflow2

## The demo command from the README: the example DAG against the local simulator and a local S3 server.
demo: venv
	$(BIN)/python scripts/demo.py --storage s3

benchmark: venv node_modules
	$(BIN)/python benchmarks/transfer_memory.py

simulator: venv
	$(BIN)/langdock-simulator

clean:
	rm -rf $(VENV) $(AIRFLOW2_VENV) node_modules .demo .mypy_cache .ruff_cache .pytest_cache build dist
