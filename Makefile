# ClaimPulse: `make run` and `make test` are all a new machine needs (Python 3.11 on PATH).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
WAREHOUSE ?= data/warehouse.duckdb
DEMO_SOURCE ?= data/claims_demo.sqlite
DEMO_CLAIMS ?= 20000
REPORT ?= data/report.html
DOCS ?= data/docs

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false

.PHONY: setup run test test-unit test-integration test-e2e bench demo clean

setup: $(STAMP)

# Reinstall only when the project's dependencies change; idempotent otherwise.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

$(DEMO_SOURCE): | $(STAMP)
	$(BIN)/claimpulse demo-data --source sqlite:///$(DEMO_SOURCE) --claims $(DEMO_CLAIMS)

demo: $(DEMO_SOURCE)

# The demo source runs on the built-in demo key (no key needed here); any other source
# needs CLAIMPULSE_PSEUDONYM_KEY.
run: setup $(DEMO_SOURCE)
	CLAIMPULSE_REPORT_PATH=$(REPORT) CLAIMPULSE_DOCS_DIR=$(DOCS) \
	$(BIN)/claimpulse run --source sqlite:///$(DEMO_SOURCE) --warehouse duckdb:///$(WAREHOUSE)

test: setup
	$(BIN)/python -m pytest -q

# One layer of the suite (tests/unit, tests/integration, tests/e2e; see README, "Tests").
test-unit test-integration test-e2e: test-%: setup
	$(BIN)/python -m pytest -q tests/$*

bench: setup
	$(BIN)/python bench/run_bench.py

# Everything `make run` makes (tests/e2e/test_cli_e2e.py checks it): the demo source, the
# warehouse with its WAL and lock files, the report and the Data Docs. Not the .venv.
clean:
	rm -rf $(DEMO_SOURCE) $(WAREHOUSE) $(WAREHOUSE).wal $(WAREHOUSE).lock $(REPORT) $(DOCS)
