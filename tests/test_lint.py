"""The code is lint-clean, as `make lint` checks: ruff for Python, SQLFluff (with the dbt
templater, so Jinja is rendered as dbt renders it) for the dbt project's SQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT

BIN = Path(sys.executable).parent


def test_python_is_ruff_clean():
    check = subprocess.run(
        [str(BIN / "ruff"), "check", "."], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout[-3000:]
    formatted = subprocess.run(
        [str(BIN / "ruff"), "format", "--check", "."], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert formatted.returncode == 0, formatted.stdout[-3000:]


def test_dbt_sql_is_sqlfluff_clean(tmp_path):
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "DUCKDB_PATH": str(tmp_path / "lint.duckdb"),
        "LAKE_ROOT": str(tmp_path / "lake"),
        "LAKE_CATALOG": f"sqlite:{tmp_path / 'lake.sqlite'}",
    }
    # the dbt templater opens the profile's connection, which loads DuckDB's extensions from
    # under HOME: a fresh HOME gets them as `make setup` installs them (offline)
    installed = subprocess.run(
        [str(BIN / "python"), "-m", "lake.tables.extensions"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert installed.returncode == 0, installed.stderr
    lint = subprocess.run(
        [str(BIN / "sqlfluff"), "lint", "models", "tests", "snapshots"],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert lint.returncode == 0, (lint.stdout + lint.stderr)[-5000:]
