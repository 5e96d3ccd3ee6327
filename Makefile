# Two commands for a newcomer:  `make demo` (the whole job) and `make test` (the suite).
# Both create the core environment .venv (Python from .python-version, packages from
# requirements/core-pyX.Y.txt) when it is missing or stale, and the vendor tools' witness
# environments (`nrf-deploy witnesses install all`; reused once installed).
# `make test` lints (ruff, pinned), runs the full suite on the default Python, then the smoke subset
# on every other supported Python, each in its own environment (.venv-3.11, .venv-3.13).
SHELL := /bin/bash
PYVER := $(shell cut -d. -f1,2 .python-version)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nrf-installed
DEMO_DIR ?= build/demo
SMOKE_PYTHONS ?= 3.11 3.13

.PHONY: demo test lint witnesses smoke bench lock clean-venv
$(STAMP): pyproject.toml setup.py requirements/core-py$(PYVER).txt scripts/bootstrap.sh
	@bash scripts/bootstrap.sh $(VENV) $(PYVER)
	@touch $(STAMP)

witnesses: $(STAMP)
	$(VENV)/bin/nrf-deploy witnesses install all

demo: $(STAMP) witnesses
	$(VENV)/bin/nrf-deploy demo -o $(DEMO_DIR)

test: lint witnesses
	$(PY) -m pytest -q -p no:cacheprovider tests
	@for v in $(SMOKE_PYTHONS); do $(MAKE) --no-print-directory smoke SMOKE_PY=$$v || exit 1; done

# the smoke subset on one more Python: make smoke SMOKE_PY=3.13
smoke:
	@bash scripts/bootstrap.sh .venv-$(SMOKE_PY) $(SMOKE_PY)
	.venv-$(SMOKE_PY)/bin/python -m pytest -q -p no:cacheprovider -m smoke tests

lint: $(STAMP)
	$(VENV)/bin/ruff check nrf_deploy targets exporters tests examples benchmarks scripts

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

lock: $(STAMP)
	bash scripts/lock.sh

clean-venv:
	rm -rf $(VENV) .venv-*
