# ec2lab — every entry point a user or CI needs. Each target bootstraps what it uses.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help venv ee demo demo-clean test test-fast test-unit test-aws test-roles test-e2e docs lint bench lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	# --no-compile: Python compiles what is imported on first use; compiling all ~24,000 files
	# up front cost CI about half a minute for modules no test imports.
	$(BIN)/pip install --quiet --no-compile --require-virtualenv -r requirements.txt
	$(BIN)/ansible-galaxy collection install -r requirements.yml
	touch $@

venv: $(BIN)/.installed ## create .venv with the pinned controller + test dependencies

ee: venv ## build the execution environment localhost/ec2lab-ee:<version> for ansible-navigator / AWX (EE_BASE=debian: offline, no registry)
	ee/build

demo: venv ## the whole path offline: moto for AWS, a container for the instance (root + podman); ARGS="-e ..." go to setup-notebook.yml
	source tests/testbed/env.sh && tests/bin/demo up $(ARGS)

demo-clean: venv ## terminate the demo, remove its aliases, container and moto
	source tests/testbed/env.sh && tests/bin/demo down

test: venv ## every test: lint, unit, AWS (moto), roles and end to end (containers), on every core
	tests/bin/run-tests all

test-fast: venv ## the inner loop: lint, unit and the AWS suite (no containers)
	tests/bin/run-tests fast

test-unit: venv ## pytest for filters and scripts only
	tests/bin/run-tests unit

test-aws: venv ## launch / inventory / terminate against moto
	tests/bin/run-tests aws

test-roles: venv ## molecule scenario of every role, side by side (podman containers)
	tests/bin/run-tests roles

test-e2e: venv ## the whole user path: moto + a container standing in for the instance
	tests/bin/run-tests e2e

docs: venv ## rewrite each role README's option table from its meta/argument_specs.yml
	$(BIN)/python docs/role_tables.py

lint: venv ## ansible-lint (production profile), yamllint, ruff, antsibull-changelog, ansible-test sanity, detect-secrets
	tests/bin/run-tests lint

bench: venv ## performance ratios against a baseline measured in the same run
	tests/bin/run-tests bench

lock: ## re-pin requirements.txt from requirements.in
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install --quiet -r requirements.in
	{ sed -n '1,3p' requirements.txt; .venv-lock/bin/pip freeze; } > requirements.txt.new && mv requirements.txt.new requirements.txt
	rm -rf .venv-lock

clean: ## remove the venv and test artefacts
	rm -rf $(VENV) .pytest_cache .molecule-artifacts
