# Two commands do all the set-up (see README.md):
#   make serve - create .venv, install the bot, run it over HTTP (settings from the environment or .env;
#                with no REDIS_URL it starts its own Redis, kept in SHOULD_FINETUNE_DATA_DIR)
#   make test  - create .venv, install the bot with its test tools, run lint, types and every test
# Also: make test-full (the long fault and fuzz runs), make socket (Socket Mode instead of HTTP), make manifest (the Slack app manifest), make bench.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test test-full lint bench install serve socket manifest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The fault, fuzz and soak tests at full size (10,000 events, 10,000 fuzz cases per payload type): tens of minutes.
test-full: lint
	SHOULD_FINETUNE_FULL_SUITE=1 $(BIN)/pytest

bench: install
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_slack.py
	$(BIN)/python benchmarks/bench_followups.py
	$(BIN)/python benchmarks/bench_digest.py
	$(BIN)/python benchmarks/bench_load.py

serve: install
	$(BIN)/should-finetune serve

socket: install
	$(BIN)/should-finetune socket

manifest: install
	@$(BIN)/should-finetune manifest $(if $(URL),--url $(URL),--socket)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
