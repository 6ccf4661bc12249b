"""DBT_TARGET=postgres has no default database: every entry point refuses to start without
the DBT_PG_* settings and names the missing ones (nothing reaches a guessed 127.0.0.1:5432)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT, Settings
from warehouse.postgres_tables import PostgresLoadError, dsn_from_env

VENV_BIN = os.path.dirname(sys.executable)
COMPLETE = {
    "DBT_PG_HOST": "db",
    "DBT_PG_PORT": "5432",
    "DBT_PG_USER": "analytics",
    "DBT_PG_DATABASE": "analytics",
}


def _env_without_dbt_pg(tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "LAKE", "OLTP"))}
    return {**env, "DATA_DIR": str(tmp_path), "HOME": str(tmp_path), **extra}


def test_settings_name_every_missing_variable():
    with pytest.raises(ValueError) as error:
        Settings.from_env({"DBT_TARGET": "postgres", "DBT_PG_HOST": "db"})
    message = str(error.value)
    assert "DBT_PG_PORT, DBT_PG_USER, DBT_PG_DATABASE" in message
    assert "DBT_PG_HOST" not in message
    assert Settings.from_env({"DBT_TARGET": "postgres", **COMPLETE}).dbt_on_postgres
    assert not Settings.from_env({}).dbt_on_postgres  # DuckDB needs none of them


def test_the_loaders_dsn_has_no_guessed_default():
    with pytest.raises(PostgresLoadError, match="DBT_PG_HOST, DBT_PG_DATABASE not set"):
        dsn_from_env(
            {k: v for k, v in COMPLETE.items() if k not in ("DBT_PG_HOST", "DBT_PG_DATABASE")}
        )
    assert dsn_from_env({**COMPLETE, "DBT_PG_PASSWORD": "p@ss"}) == (
        "postgresql://analytics:p%40ss@db:5432/analytics?sslmode=prefer"
    )


def test_the_lakehouse_command_refuses_to_start(tmp_path):
    result = subprocess.run(
        [os.path.join(VENV_BIN, "lakehouse"), "doctor"],
        env=_env_without_dbt_pg(tmp_path, DBT_TARGET="postgres"),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "DBT_PG_HOST, DBT_PG_PORT, DBT_PG_USER, DBT_PG_DATABASE" in result.stderr


@pytest.mark.integration
def test_dbt_profile_names_the_missing_host(tmp_path):
    result = subprocess.run(
        [os.path.join(VENV_BIN, "dbt"), "debug", "--target", "postgres"],
        env=_env_without_dbt_pg(tmp_path, DBT_TARGET="postgres", DBT_LOG_PATH=str(tmp_path)),
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "Env var required but not provided: 'DBT_PG_HOST'" in result.stdout + result.stderr
