# The commands the README documents. Everything installs locally: a virtualenv in .venv
# from the pinned requirements, and the CDK CLI (with its Node.js runtime) from
# package-lock.json into node_modules. No global installs, no AWS credentials for synth.

SHELL := /bin/bash
STAGE ?= sandbox
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
CDK := npx --no-install cdk

.PHONY: synth test lint snapshots bench diff deploy destroy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.requirements: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.requirements-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

## synth: synthesize every stack of STAGE (default sandbox) into cdk.out/ and summarise it
synth: $(VENV)/.requirements node_modules/.package-lock.json
	rm -rf cdk.out
	$(CDK) synth --quiet -c stage=$(STAGE)
	$(BIN)/python -m tools.synth_summary cdk.out

## test: run the whole test suite (offline, no credentials)
test: $(VENV)/.requirements-dev node_modules/.package-lock.json
	@rc=0; $(BIN)/python -m pytest || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

## lint: ruff and mypy (strict), both must be clean
lint: $(VENV)/.requirements-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app.py stacks contracts tools lambda/stream_transform glue/housing_etl

## snapshots: refresh the masked template snapshots after reviewing a change
snapshots: $(VENV)/.requirements-dev node_modules/.package-lock.json
	UPDATE_SNAPSHOTS=1 $(BIN)/python -m pytest tests/snapshot -q

## bench: synth benchmark against the empty-app floor (writes docs/benchmarks.md)
bench: $(VENV)/.requirements-dev node_modules/.package-lock.json
	$(BIN)/python -m benchmarks.synth

diff: $(VENV)/.requirements node_modules/.package-lock.json
	$(CDK) diff -c stage=$(STAGE)

deploy: $(VENV)/.requirements node_modules/.package-lock.json
	$(CDK) deploy --all -c stage=$(STAGE)

destroy: $(VENV)/.requirements node_modules/.package-lock.json
	$(CDK) destroy --all -c stage=$(STAGE)

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
