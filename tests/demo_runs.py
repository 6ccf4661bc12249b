"""One lake shared by the tests that audit gold after a change set (tests/test_money_audit.py,
tests/test_gold_plausibility.py): two demo runs at the demo's defaults, the second applying a
change set with inserts, updates and deletes, and the same bronze built on PostgreSQL after
each run (so its incremental path is exercised too). Built once per test session; the modules
that use it share one xdist group, so it is built on one worker only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from lake import open_lake, parse_lake_url
from lake.postgres_raw import load_bronze_to_postgres
from lake.tables.catalog import TableCatalog, connect
from orchestration.demo import run_demo
from orchestration.settings import Settings
from tests.test_dbt_postgres import assert_green, dbt_build, pg_env

DEMO_AFTER_CHANGE_SET = "demo_after_change_set"  # the xdist group of the modules that use it


@dataclass(frozen=True)
class DemoAfterChangeSet:
    root: Path  # the data folder: shop.db, landing/, lake/
    changes: str  # what the second run's change set did ("N inserted, N updated, N deleted")
    postgres_dsn: str

    def gold(self) -> duckdb.DuckDBPyConnection:
        """The lake's gold marts (DuckLake tables, read-only), the default schema."""
        con = connect(TableCatalog.beside(parse_lake_url(str(self.root / "lake"))), read_only=True)
        con.execute("use lake.marts")
        return con


def build_on_postgres(root: Path, dsn: str) -> None:
    """Bronze into raw_* and `dbt build --target postgres` (incremental after the first)."""
    load_bronze_to_postgres(open_lake(str(root / "lake")), dsn)
    assert_green(
        dbt_build("postgres", root, {**pg_env(dsn), "DUCKDB_PATH": str(root / "unused.duckdb")})
    )


@pytest.fixture(scope="session")
def demo_after_change_set(tmp_path_factory, postgres_server) -> Iterator[DemoAfterChangeSet]:
    import psycopg

    root = tmp_path_factory.mktemp("demo-after-change-set")
    database = "t_demo_after_change_set"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        conn.execute(f'CREATE DATABASE "{database}"')
    dsn = postgres_server.dsn(database)
    settings = Settings.from_env({"DATA_DIR": str(root)})  # the demo's scale and seed
    first = run_demo(settings, quiet=True)
    assert first.dbt["failures"] == []
    build_on_postgres(root, dsn)
    second = run_demo(settings, quiet=True)  # applies the change set first
    assert second.stages[0][0] == "apply a change set to the shop", second.stages
    assert second.dbt["failures"] == []
    build_on_postgres(root, dsn)
    yield DemoAfterChangeSet(root, second.changes, dsn)
