# Two commands for a newcomer:  `make demo` (the whole job) and `make test` (the suite).
# Both create .venv with Python 3.10 and the pinned packages when it is missing or stale;
# `make test` runs the linter (ruff, pinned) and then the suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nrf-installed
DEMO_DIR ?= build/demo

.PHONY: demo test lint bench clean-venv witnesses
$(STAMP): pyproject.toml setup.py
	@bash scripts/bootstrap.sh $(VENV)
	@touch $(STAMP)

demo: $(STAMP) witnesses
	$(VENV)/bin/nrf-deploy demo -o $(DEMO_DIR)

test: lint witnesses
	$(PY) -m pytest -q -p no:cacheprovider tests

# vendor simulators (Lava, sinabs, xylosim, ...) in environments of their own; re-runs reuse them
# (docs/witnesses.md)
witnesses: $(STAMP)
	$(VENV)/bin/nrf-deploy witnesses install all

lint: $(STAMP)
	$(VENV)/bin/ruff check nrf_deploy targets exporters tests examples benchmarks scripts

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean-venv:
	rm -rf $(VENV)
