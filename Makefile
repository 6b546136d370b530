# Two commands do all the set-up (see README.md):
#   make serve - create .venv, install the bot from the lock file, run it over HTTP (settings from the environment
#                or .env; with no REDIS_URL it starts its own Redis, kept in SHOULD_FINETUNE_DATA_DIR)
#   make test  - create .venv, install the bot and its test tools from the lock file, run lint, types and every test
# `make help` lists the rest.
#
# Everything is installed from the lock: requirements/*.txt, exported from uv.lock, pin every package with its
# hashes. pip runs only when the lock or pyproject.toml changed since the last install (the stamps in .venv), and
# `make serve` installs only what the bot needs at run time.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
# The tool that writes the lock, used only by `make lock` and `make test-lowest`; the lock's format is its version's.
UV_VERSION := 0.13.9
UV := $(BIN)/uv
LOWEST := .venv-lowest

.DEFAULT_GOAL := help
.PHONY: help serve socket manifest test test-full test-lowest lint bench install install-runtime lock clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

serve: install-runtime ## run the bot over HTTP on :3000 (installs the run-time set only)
	$(BIN)/should-finetune serve

socket: install-runtime ## run the bot over Socket Mode (no public URL needed)
	$(BIN)/should-finetune socket

manifest: install-runtime ## print the Slack app manifest (URL=https://your-host for HTTP mode)
	@$(BIN)/should-finetune manifest $(if $(URL),--url $(URL),--socket)

test: lint ## lint, types and every test (what CI runs)
	$(BIN)/pytest $(PYTEST_FLAGS)

lint: install ## ruff, ruff format and mypy only
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The fault, fuzz and soak tests at full size (10,000 events, 10,000 fuzz cases per payload type): tens of minutes.
test-full: lint ## every test, the fault and fuzz suites at full size (tens of minutes)
	SHOULD_FINETUNE_FULL_SUITE=1 $(BIN)/pytest $(PYTEST_FLAGS)

bench: install ## the benchmarks behind BENCHMARKS.md
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_slack.py
	$(BIN)/python benchmarks/bench_followups.py
	$(BIN)/python benchmarks/bench_digest.py
	$(BIN)/python benchmarks/bench_load.py

install: $(VENV)/.installed-test ## install the bot and its test tools from the lock (when it changed)

install-runtime: $(VENV)/.installed-runtime ## install the bot's run-time set from the lock (when it changed)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installs the export $(1) and the build backend from the lock (requirements/build.txt), so the package is built
# without fetching anything; --require-hashes makes pip refuse a file whose hash the lock does not list, and any
# package missing.
define install_locked
	$(PIP) install --require-hashes -r $(1) -r requirements/build.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check --disable-pip-version-check
endef

$(VENV)/.installed-runtime: requirements/runtime.txt requirements/build.txt pyproject.toml | $(BIN)/python
	$(call install_locked,requirements/runtime.txt)
	touch $@

# The test set holds the run-time set, so it stands for both.
$(VENV)/.installed-test: requirements/test.txt requirements/build.txt pyproject.toml | $(BIN)/python
	$(call install_locked,requirements/test.txt)
	touch $@ $(VENV)/.installed-runtime

$(VENV)/.uv-$(UV_VERSION): | $(BIN)/python
	$(PIP) install uv==$(UV_VERSION)
	touch $@

# Refreshes uv.lock from pyproject.toml, keeping every pin that still fits, and exports it for pip. To upgrade on
# purpose: `make lock UPGRADE=redis` (one package), `make lock UPGRADE=all` (everything); then `make test`.
lock: $(VENV)/.uv-$(UV_VERSION) ## refresh uv.lock and requirements/ (UPGRADE=package, or UPGRADE=all)
	$(UV) lock --python $(BIN)/python $(if $(filter all,$(UPGRADE)),--upgrade,$(if $(UPGRADE),--upgrade-package $(UPGRADE)))
	$(UV) export --quiet --frozen --no-emit-project --no-default-groups -o requirements/runtime.txt
	$(UV) export --quiet --frozen --no-emit-project --no-default-groups --extra test -o requirements/test.txt
	$(UV) export --quiet --frozen --no-emit-project --only-group build -o requirements/build.txt

# The lower bounds of pyproject.toml's ranges, checked: a fresh venv with the lowest version of every direct
# dependency each range allows (and of the build backend), then lint, types and every test.
test-lowest: $(VENV)/.uv-$(UV_VERSION) ## lint, types and every test on the lowest versions pyproject.toml allows
	rm -rf $(LOWEST)
	$(UV) venv --quiet --python $(BIN)/python $(LOWEST)
	$(UV) pip install --quiet --python $(LOWEST)/bin/python --resolution lowest-direct --group build
	$(UV) pip install --quiet --python $(LOWEST)/bin/python --resolution lowest-direct --no-build-isolation -e '.[test]'
	$(UV) pip list --python $(LOWEST)/bin/python
	touch $(LOWEST)/.installed-test
	$(MAKE) --no-print-directory VENV=$(LOWEST) PYTEST_FLAGS="-m 'not locked_environment'" test

clean: ## remove the virtual environments and caches
	rm -rf $(VENV) $(LOWEST) .pytest_cache .mypy_cache .ruff_cache .hypothesis
