# Two commands do all the set-up: `make demo` and `make test`. Each builds what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runs Python 3.13; so does the virtual environment (pyenv's 3.13 when python3.13 is not on PATH).
PYTHON ?= $(shell for p in python3.13 $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3 /usr/local/bin/python3.13 /usr/bin/python3.13; do \
             "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
# jsii (under aws-cdk-lib) warns on every synth when Node is past its end of life; Node 22+ is recommended.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 18,20
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help setup browser demo test lint typecheck unit bench lock synth clean

help:
	@echo "make demo   run webid-canary on the embedded local AWS, end to end"
	@echo "make test   lint, type-check and run the whole test suite"
	@echo "make bench  run the benchmarks under bench/ and print their figures"
	@echo "make synth  print the CloudFormation template (npx cdk synth)"

$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "error: Python 3.13 not found (set PYTHON=/path/to/python3.13)"; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned dependencies into $(VENV) (pip shows each package as it goes)"
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The Lambda's aarch64 wheels, fetched once from PyPI with pip's cross-platform download (no Docker) and kept
# in .asset-cache/: synths, tests and the demo then build the asset offline.
ASSET_WHEELS := .asset-cache/.wheels-$(shell sha256sum requirements.lock 2>/dev/null | cut -c1-16)
$(ASSET_WHEELS): requirements.lock $(STAMP)
	$(BIN)/python -c "from infra.asset import build_wheels, read_pins, CACHE_DIR, LOCK_FILE; build_wheels(read_pins(LOCK_FILE.read_text()), CACHE_DIR)"
	@touch $@

setup: $(STAMP) node_modules/.installed $(ASSET_WHEELS)

# The report's test looks at the HTML page in a real headless browser: Debian's chromium, installed here when it
# is missing and we are root (as in CI). Elsewhere the test says how to install it.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get)"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	      || echo "warning: chromium could not be installed; the report's browser test will fail"; \
	  else echo "warning: chromium is missing (apt-get install chromium); the report's browser test will fail"; fi; }

demo: setup
	$(BIN)/webid-canary demo
	@echo
	@echo "The CLI is $(BIN)/webid-canary. Put it on your PATH with 'source $(BIN)/activate',"
	@echo "or install it for good with 'pipx install \".[cli,local]\"' (or 'uv tool install \".[cli,local]\"')."
	@echo "Then try every command without an AWS account: webid-canary sandbox -- webid-canary probe --all"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/check_imports.py

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test: setup browser lint typecheck
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python bench/run.py

synth: setup
	npx cdk synth

lock:
	uv pip compile pyproject.toml --all-extras --universal --python-version 3.13 -o requirements.lock -q

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache bench/results
