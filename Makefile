# Everything runs inside project-local virtual environments created on demand.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev
PYTEST_ARGS ?=
# The oldest Airflow line we support, tested in a second virtual environment.
AIRFLOW2_VENV ?= .venv-airflow2
AIRFLOW2_VERSION ?= 2.11.*

.PHONY: venv venv-airflow2 node_modules postgresql test test-fast test-matrix test-lowest lint typecheck pytest pytest-airflow2 demo benchmark simulator docs clean

# $(call install_venv,DIR,INTERPRETER,MORE_UV_ARGS): a venv with this project (editable) and its dev extras.
define install_venv
	test -x $(1)/bin/python || $(2) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip uv
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python $(3) -e ".[$(EXTRAS)]"
	touch $(1)/.installed
endef

# $(call run_suite,DIR): the suite without the browser test. PostgreSQL is required there, so the DDL
# tests fail rather than skip when it is missing.
run_suite = LANGDOCK_POSTGRES_REQUIRED=1 $(1)/bin/pytest -m "not ui" $(PYTEST_ARGS)

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(call install_venv,$(VENV),$(PYTHON),)

venv-airflow2: $(AIRFLOW2_VENV)/.installed

$(AIRFLOW2_VENV)/.installed: pyproject.toml
	$(call install_venv,$(AIRFLOW2_VENV),$(PYTHON),"apache-airflow==$(AIRFLOW2_VERSION)")

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
	$(call run_suite,$(VENV))

pytest-airflow2: venv-airflow2 node_modules postgresql
	$(call run_suite,$(AIRFLOW2_VENV))

## The test command from the README: linters, type checks, the whole suite on Airflow 3 and on Airflow 2.11.
test: lint typecheck pytest test-ui pytest-airflow2

## The everyday loop: linters, type checks and the suite without the slow tests (demo runs, benchmark
## smoke, Airflow CLI subprocesses), on Python 3.11 and Airflow 3 only.
test-fast: lint typecheck venv node_modules
	$(BIN)/pytest -m "not slow and not ui" $(PYTEST_ARGS)

## The Python matrix: the suite on Airflow 3 with Python 3.12 and 3.13, and on Airflow 2.11 with Python 3.12
## (Python 3.11 runs in `make test`). Interpreters come from pyenv ($(PYENV_ROOT)/versions) or PATH (python3.12).
PYENV_ROOT ?= $(HOME)/.pyenv
MATRIX_PYTHONS ?= 3.12 3.13
python_for = $(or $(shell ls -d $(PYENV_ROOT)/versions/$(1).*/bin/python$(1) 2>/dev/null | sort -V | tail -1),$(shell command -v python$(1) 2>/dev/null))

python_missing = { echo "Python $(1) not found: put python$(1) on PATH or run 'pyenv install $(1)'"; exit 1; }

.venv-py%/.installed: pyproject.toml
	@test -n "$(call python_for,$*)" || $(call python_missing,$*)
	$(call install_venv,.venv-py$*,$(call python_for,$*),)

.venv-airflow2-py%/.installed: pyproject.toml
	@test -n "$(call python_for,$*)" || $(call python_missing,$*)
	$(call install_venv,.venv-airflow2-py$*,$(call python_for,$*),"apache-airflow==$(AIRFLOW2_VERSION)")

# Keep the marker files of the pattern rules (make would delete them as intermediates and reinstall).
.PRECIOUS: .venv-py%/.installed .venv-airflow2-py%/.installed

pytest-py%: .venv-py%/.installed node_modules postgresql
	$(call run_suite,.venv-py$*)

pytest-airflow2-py%: .venv-airflow2-py%/.installed node_modules postgresql
	$(call run_suite,.venv-airflow2-py$*)

test-matrix: $(foreach py,$(MATRIX_PYTHONS),pytest-py$(py)) pytest-airflow2-py3.12

## Every lower bound of pyproject.toml at once: the lowest direct versions uv can resolve, then the suite.
LOWEST_VENV ?= .venv-lowest
$(LOWEST_VENV)/.installed: pyproject.toml
	$(call install_venv,$(LOWEST_VENV),$(PYTHON),--resolution lowest-direct)

test-lowest: $(LOWEST_VENV)/.installed node_modules postgresql
	$(call run_suite,$(LOWEST_VENV))
	NO_MKDOCS_2_WARNING=1 $(LOWEST_VENV)/bin/mkdocs build --strict --site-dir $(LOWEST_VENV)/site

## Debian's Chromium for the browser test (Playwright drives it; `playwright install` would download a build).
.PHONY: chromium test-ui
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
	  $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends chromium; }

## The langdock connection form in headless Chromium against a real `airflow api-server` and the simulator.
## LANGDOCK_UI_REQUIRED=1 makes a missing browser or Playwright an error instead of a skip.
test-ui: venv chromium
	LANGDOCK_UI_REQUIRED=1 $(BIN)/pytest -m ui tests/test_connection_ui_browser.py $(PYTEST_ARGS)

## The demo command from the README: the example DAG against the local simulator and a local S3 server.
demo: venv
	$(BIN)/python scripts/demo.py --storage s3

benchmark: venv node_modules
	$(BIN)/python benchmarks/transfer_memory.py

simulator: venv
	$(BIN)/langdock-simulator

## The docs site (MkDocs, Material, mkdocstrings) into site/; any warning is an error.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) $(AIRFLOW2_VENV) .venv-py3.* .venv-airflow2-py3.* $(LOWEST_VENV) node_modules .demo .mypy_cache .ruff_cache .pytest_cache build dist site
