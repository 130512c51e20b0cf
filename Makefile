# The commands the README documents. Everything installs locally: a virtualenv in .venv
# from the pinned requirements, and the CDK CLI (with its Node.js runtime) from
# package-lock.json into node_modules. No global installs, no AWS credentials for synth.

SHELL := /bin/bash
STAGE ?= sandbox
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
SARIF ?=
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
CDK := npx --no-install cdk

.PHONY: synth test lint snapshots bench bench-etl gate compliance-report diff deploy destroy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.requirements: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.requirements-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# checkov pins packaging<24, which conflicts with pytest: it gets a virtualenv of its own.
$(CHECKOV_VENV)/.requirements: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	echo '*' > $(CHECKOV_VENV)/.gitignore
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

## synth: synthesize every stack of STAGE (default sandbox) into cdk.out/, check deploy readiness, summarise
synth: $(VENV)/.requirements node_modules/.package-lock.json
	rm -rf cdk.out
	$(CDK) synth --quiet -c stage=$(STAGE)
	$(BIN)/python -m tools.synth_summary cdk.out
	$(BIN)/python -m readiness cdk.out

## test: run the whole test suite (offline, no credentials)
test: $(VENV)/.requirements-dev $(CHECKOV_VENV)/.requirements node_modules/.package-lock.json
	@rc=0; $(BIN)/python -m pytest || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

## lint: ruff and mypy (strict), both must be clean
lint: $(VENV)/.requirements-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app.py stacks contracts tools readiness lambda/stream_transform lambda/evaluation_gate lambda/drift lambda/predict glue/housing_etl

## snapshots: refresh the masked template snapshots after reviewing a change
snapshots: $(VENV)/.requirements-dev node_modules/.package-lock.json
	UPDATE_SNAPSHOTS=1 $(BIN)/python -m pytest tests/snapshot -q

## gate: synthesize every stage, run the packs rule by rule, deploy readiness, cfn-lint and checkov
##       (SARIF=1 also writes reports/*.sarif for code scanning)
gate: $(VENV)/.requirements-dev $(CHECKOV_VENV)/.requirements node_modules/.package-lock.json
	$(BIN)/python -m tools.gate $(if $(SARIF),--sarif reports)

## compliance-report: regenerate docs/compliance.md from every stage's synthesized assembly
compliance-report: $(VENV)/.requirements-dev node_modules/.package-lock.json
	$(BIN)/python -m tools.gate --synth-only
	$(BIN)/python -m tools.compliance_report build/gate

## bench: synth benchmark against the empty-app floor (writes docs/benchmarks.md)
bench: $(VENV)/.requirements-dev node_modules/.package-lock.json
	$(BIN)/python -m benchmarks.synth

## bench-etl: Glue ETL against its two floors, 1-8M-row curve, small-heap run (about 20 minutes,
##            writes docs/benchmarks.md; QUICK=1: a tenth of the sizes, printed only)
bench-etl: $(VENV)/.requirements-dev
	$(BIN)/python -m benchmarks.etl_pipeline $(if $(QUICK),--quick)

diff: $(VENV)/.requirements node_modules/.package-lock.json
	$(CDK) diff -c stage=$(STAGE)

## deploy: check the prerequisites (credentials, bootstrap, Lake Formation admin, SageMaker quota),
##         synthesize STAGE and deploy every stack in dependency order (see docs/deploy.md)
deploy: $(VENV)/.requirements-dev node_modules/.package-lock.json
	$(BIN)/python -m tools.deploy deploy --stage $(STAGE)

## destroy: destroy every stack of STAGE; outside sandbox stages only with CONFIRM=<the stage name>
destroy: $(VENV)/.requirements-dev node_modules/.package-lock.json
	$(BIN)/python -m tools.deploy destroy --stage $(STAGE) --confirm "$(CONFIRM)"

.PHONY: smoke diagram train training-doc promote

## smoke: end-to-end run against the deployed STAGE: events -> raw zone -> Glue workflow -> SigV4 predict
smoke: $(VENV)/.requirements-dev
	$(BIN)/python -m tools.smoke --stage $(STAGE)

## promote: list the Approved model packages of STAGE beside what the endpoint serves; with PACKAGE=<arn>
##          [VARIANT=<name>] [BASELINE=<s3 url>] pin it in cdk.json, gate it and deploy the Inference stack
##          (DRY_RUN=1: no deploy)
promote: $(VENV)/.requirements-dev node_modules/.package-lock.json
	$(BIN)/python -m tools.promote --stage $(STAGE) $(if $(PACKAGE),--package $(PACKAGE)) \
		$(if $(VARIANT),--variant $(VARIANT)) $(if $(BASELINE),--baseline-url $(BASELINE)) $(if $(DRY_RUN),--dry-run)

## train: start a training run of the deployed STAGE and follow it until it ends (needs credentials)
train: $(VENV)/.requirements-dev
	$(BIN)/python -m tools.train --stage $(STAGE)

## diagram: regenerate docs/architecture-diagram.md from a synth of the sandbox stage
diagram: $(VENV)/.requirements node_modules/.package-lock.json
	rm -rf cdk.out
	$(CDK) synth --quiet -c stage=sandbox
	$(BIN)/python -m tools.diagram cdk.out --output docs/architecture-diagram.md

## training-doc: regenerate the flow diagram and run cost in docs/training.md from every stage's synth
training-doc: $(VENV)/.requirements-dev node_modules/.package-lock.json
	$(BIN)/python -m tools.gate --synth-only
	$(BIN)/python -m tools.training_doc build/gate/*

clean:
	rm -rf cdk.out build/gate reports .pytest_cache .mypy_cache .ruff_cache
