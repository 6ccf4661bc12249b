"""The lake of the tests that audit gold after a change set (tests/test_money_audit.py,
tests/test_gold_plausibility.py): the session's shared demo folder (tests/shared_lake.py:
two demo runs at the demo's defaults, the second applying a change set with inserts, updates
and deletes), read as it is, and the same bronze built on PostgreSQL after each run (so its
incremental path is exercised too). The modules that use it share one xdist group, so the
PostgreSQL builds run on one worker only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from lake import open_lake, parse_lake_url
from lake.tables.catalog import TableCatalog, connect
from tests.shared_lake import SharedDemo
from tests.test_dbt_postgres import assert_green, dbt_build, pg_env
from warehouse.postgres_raw import load_bronze_to_postgres

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


def build_on_postgres(data_dir: Path, dsn: str, work: Path) -> None:
    """Bronze into raw_* and `dbt build --target postgres` (incremental after the first);
    dbt's files go to `work`."""
    load_bronze_to_postgres(open_lake(str(data_dir / "lake")), dsn)
    assert_green(
        dbt_build("postgres", work, {**pg_env(dsn), "DUCKDB_PATH": str(work / "unused.duckdb")})
    )


@pytest.fixture(scope="session")
def demo_after_change_set(
    tmp_path_factory, postgres_server, shared_demo: SharedDemo
) -> Iterator[DemoAfterChangeSet]:
    import psycopg

    work = tmp_path_factory.mktemp("demo-after-change-set")
    database = "t_demo_after_change_set"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        conn.execute(f'CREATE DATABASE "{database}"')
    dsn = postgres_server.dsn(database)
    build_on_postgres(shared_demo.after_first, dsn, work)
    build_on_postgres(shared_demo.after_second, dsn, work)
    yield DemoAfterChangeSet(shared_demo.after_second, shared_demo.second.changes, dsn)
