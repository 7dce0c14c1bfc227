# ClaimPulse: `make run` and `make test` are all a new machine needs (Python 3.11 on PATH).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
WAREHOUSE ?= data/warehouse.duckdb
DEMO_SOURCE ?= data/claims_demo.sqlite

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false

.PHONY: setup run test bench demo clean

setup: $(STAMP)

# Reinstall only when the project's dependencies change; idempotent otherwise.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

$(DEMO_SOURCE): | $(STAMP)
	$(BIN)/claimpulse demo-data --source sqlite:///$(DEMO_SOURCE)

demo: $(DEMO_SOURCE)

run: setup $(DEMO_SOURCE)
	CLAIMPULSE_PSEUDONYM_KEY=$${CLAIMPULSE_PSEUDONYM_KEY:-demo-only-key} \
	$(BIN)/claimpulse run --source sqlite:///$(DEMO_SOURCE) --warehouse duckdb:///$(WAREHOUSE)

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/run_bench.py

clean:
	rm -rf data/*.duckdb data/*.sqlite data/docs
