# fraudstream: `make run` runs the main job, `make test` runs the whole suite.
# Both bootstrap what they need on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DURATION ?= 20
RATE ?= 1000
PYTEST_ARGS ?=

.PHONY: run test check lint typecheck unit integration e2e test-deps clean

$(STAMP): pyproject.toml scripts/bootstrap-python.sh
	PYTHON=$(PYTHON) scripts/bootstrap-python.sh $(VENV)
	touch $(STAMP)

## run: the whole pipeline on the embedded defaults (in-process bus, SQLite).
## The first run trains a model on the simulator's traffic and promotes it.
run: $(STAMP) var/models/CHAMPION
	$(BIN)/fraudstream run --duration $(DURATION) --rate $(RATE)

var/models/CHAMPION: | $(STAMP)
	$(BIN)/fraudstream train --dataset synthetic --promote

## test: every tier; installs the Kafka jars and PostgreSQL first
test: $(STAMP) test-deps
	$(BIN)/pytest tests $(PYTEST_ARGS)

test-deps: $(STAMP)
	scripts/bootstrap-test-deps.sh $(VENV)

## check: what CI's fast tier runs: lint, types, unit tests
check: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q $(PYTEST_ARGS)

integration: $(STAMP) test-deps
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

e2e: $(STAMP) test-deps
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
