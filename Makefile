# The lakehouse: `make demo` runs the pipeline on the embedded default, `make test` proves it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
# `setup` syncs the venv; commands then run from it directly, so only setup needs uv
RUN := PATH="$(CURDIR)/.venv/bin:$$PATH" VIRTUAL_ENV="$(CURDIR)/.venv"
DBT := cd dbt_project && ../.venv/bin/dbt
PG_BINDIR ?= $(shell ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

.PHONY: help setup duckdb-extensions check-python demo demo-stream test test-fast ui docs lint format clean bench superset-setup bi superset-lock screenshots

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} \
	  {name[NR] = $$1; text[NR] = $$2; if (length($$1) > width) width = length($$1)} \
	  END {for (i = 1; i <= NR; i++) printf "  \033[36m%-*s\033[0m  %s\n", width, name[i], text[i]}'

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null \
	  || { echo "error: Python >= 3.11 is required as '$(PYTHON)' (set PYTHON=/path/to/python3.11)"; exit 1; }

.venv/.synced: pyproject.toml uv.lock | check-python
	@command -v $(UV) >/dev/null 2>&1 || $(PYTHON) -m pip install --user --quiet uv \
	  || { echo "error: could not install uv; install it with 'pip install uv'"; exit 1; }
	@# compiled once here: with PYTHONDONTWRITEBYTECODE set (or a read-only venv) every
	@# process, dbt included, would otherwise compile dagster and dbt again (~10 s each)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

# DuckDB's extensions (DuckLake, the SQLite and PostgreSQL catalogs, httpfs) from the pinned
# wheels into DuckDB's extension directory under $$HOME: offline, every time (a check when they
# are there), because that directory lives outside the venv and may be new
duckdb-extensions: .venv/.synced
	$(RUN) python -m lake.tables.extensions

dbt_project/target/manifest.json: .venv/.synced $(shell find dbt_project/models dbt_project/macros dbt_project/tests -type f 2>/dev/null) dbt_project/dbt_project.yml
	@# parsed with the variables the pipeline runs dbt with, so dbt's parse state is reused
	$(RUN) python -c 'from orchestration.resources import parse_dbt_project; parse_dbt_project()'

setup: .venv/.synced duckdb-extensions dbt_project/target/manifest.json ## Install uv, the locked dependencies and DuckDB's extensions, parse the dbt project (idempotent)

demo: setup ## Generate the sources and run the whole pipeline on the embedded default, then summarize
	$(RUN) lakehouse demo

demo-stream: setup ## Streaming: a local Kafka broker, live events, `lakehouse stream` into the lake, the live marts refreshed for Superset; figures until Ctrl-C
	$(RUN) python -m orchestration.stream_demo

# pytest-xdist workers: tests that share a module's expensive fixture stay on one worker
# (tests/conftest.py); the waits of one worker (server start-ups, subprocesses) overlap the
# other's work. TEST_WORKERS=0 runs in one process. uv's folder goes on PATH so that
# scripts/install_connector.sh installs the test connector with uv, not pip (minutes slower).
TEST_WORKERS ?= 2

test: setup superset-setup ## Run every test (unit and integration: PostgreSQL, S3 endpoint, dbt, Dagster); lists the 20 slowest
	@test -n "$(PG_BINDIR)" || { echo "error: PostgreSQL server binaries not found: apt-get install postgresql (see README)"; exit 1; }
	PATH="$(dir $(UV)):$$PATH" PG_BINDIR=$(PG_BINDIR) $(RUN) pytest -n $(TEST_WORKERS) --durations=20 --junitxml=test-artifacts/junit.xml

test-fast: setup ## Unit tests only
	$(RUN) pytest -m "not integration"

# Superset pins old libraries: it gets its own virtualenv, installed from the committed lock.
SUPERSET_VENV := .superset-venv
SUPERSET_PYTHON ?= $(PYTHON)

# Compiled once here, as the project's venv: with PYTHONDONTWRITEBYTECODE set, every start
# of Superset (its bootstrap, each webserver) compiled it again, 7 of its 11 CPU-seconds.
$(SUPERSET_VENV)/.synced-compiled: superset/requirements.lock | check-python
	@command -v $(UV) >/dev/null 2>&1 || $(PYTHON) -m pip install --user --quiet uv
	test -x $(SUPERSET_VENV)/bin/python || $(UV) venv --quiet --python $(SUPERSET_PYTHON) $(SUPERSET_VENV)
	VIRTUAL_ENV=$(SUPERSET_VENV) $(UV) pip sync --quiet --compile-bytecode superset/requirements.lock
	@touch $@

superset-setup: $(SUPERSET_VENV)/.synced-compiled ## Create Superset's own virtualenv from superset/requirements.lock (idempotent)

superset-lock: ## Re-resolve superset/requirements.in into superset/requirements.lock
	$(UV) pip compile --quiet superset/requirements.in --python-version 3.11 -o superset/requirements.lock

bi: setup superset-setup ## Start Superset on 127.0.0.1:8088 (bootstrap if needed), print its URL and where the password is
	$(RUN) python -m orchestration.bi

screenshots: setup superset-setup ## Regenerate the dashboard pictures in docs/img (after `make demo`; bootstraps Superset if needed, needs Chromium)
	$(RUN) python superset/screenshots.py

ui: setup superset-setup ## Dagster UI (webserver + daemon, the data folder's instance) on 127.0.0.1:3000 and Superset on :8088; logs in DATA_DIR/logs
	$(RUN) python -m orchestration.ui

DOCS_PORT ?= 8080
docs: setup ## Generate and serve the dbt docs on 127.0.0.1:8080 (DOCS_PORT; after a demo)
	$(DBT) docs generate && ../.venv/bin/dbt docs serve --host 127.0.0.1 --port $(DOCS_PORT) --no-browser

# SQLFluff's dbt templater parses the project and opens the profile's DuckDB file: it keeps
# its parse state in target/sqlfluff (dbt_project/.sqlfluff), away from the manifest the
# pipeline reads, and gets an empty DuckDB file and lake there, as tests/test_lint.py does,
# so the lint never opens the demo's warehouse and renders the same SQL after a demo
# (a built model would make is_incremental() true)
LINT_DIR := $(CURDIR)/dbt_project/target/sqlfluff
# SQLFluff's dbt templater opens the profile's connection: its own warehouse and DuckLake,
# never the demo's (where the incremental models exist and is_incremental() would render)
LINT_ENV := DUCKDB_PATH=$(LINT_DIR)/lint.duckdb LAKE_ROOT=$(LINT_DIR)/lake \
	LAKE_CATALOG=sqlite:$(LINT_DIR)/lake.sqlite
lint: setup ## ruff check and format check; SQLFluff (dbt templater) over the dbt SQL
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	mkdir -p $(LINT_DIR)
	cd dbt_project && $(LINT_ENV) $(RUN) sqlfluff lint models tests snapshots

format: setup ## Apply ruff's and SQLFluff's fixes
	$(RUN) ruff check --fix .
	$(RUN) ruff format .
	mkdir -p $(LINT_DIR)
	cd dbt_project && $(LINT_ENV) $(RUN) sqlfluff fix models tests snapshots

bench: setup ## Benchmarks (print figures; not tests)
	$(RUN) python bench/datagen_bench.py
	$(RUN) python bench/ingest_bench.py
	$(RUN) python bench/dbt_bench.py
	$(RUN) python bench/demo_bench.py

clean: ## Remove generated data, build output and the virtualenv
	rm -rf data dbt_project/target dbt_project/logs test-artifacts .venv $(SUPERSET_VENV) .pytest_cache .ruff_cache

# Server mode (docker compose; docs/server-mode.md). `docker compose` (v2) when present, else
# the standalone docker-compose (1.29+). Compose refuses to start while a secret is unset.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
.PHONY: up down logs

up: ## Server mode: build and start MinIO, PostgreSQL, Dagster and Superset (needs a filled .env)
	@test -f .env || { echo "error: no .env: cp .env.example .env and fill every secret (docs/server-mode.md)"; exit 1; }
	$(COMPOSE) config --quiet
	$(COMPOSE) up -d --build
	@echo "Dagster: http://127.0.0.1:3000  Superset: http://127.0.0.1:8088  MinIO console: http://127.0.0.1:9001"

down: ## Server mode: stop the stack (volumes are kept; `down -v` would delete the data)
	$(COMPOSE) down

logs: ## Server mode: follow the logs of every service
	$(COMPOSE) logs --follow --tail=200
