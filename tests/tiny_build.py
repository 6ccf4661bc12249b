"""The whole dbt project built on both engines from one tiny generated dataset, for the tests
that compare the engines (tests/test_dbt_postgres.py) and check risk_features
(tests/test_risk_features.py): generated sources synced into a local lake, `dbt build` on
DuckDB, and the same bronze loaded into PostgreSQL and built there. Built once per session
(a dbt build on each engine and a sync of every connection): the tests that use it share
one xdist group (TINY_BUILD), so it is built on one worker only. Tests read it as it is;
one that changes it works on its own copy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from datagen.generate import GenerationRequest, generate
from ingestion.connections import load_connections
from ingestion.sync import sync_connection
from lake import open_lake, parse_lake_url
from lake.tables.catalog import TableCatalog, connect
from orchestration.crm_service import crm_api_running
from orchestration.settings import REPO_ROOT
from tests.dbt_runs import in_the_data_folder
from tests.test_dbt_postgres import SCALE, SEED, assert_green, dbt_build, pg_env
from warehouse.postgres_raw import load_bronze_to_postgres


@dataclass(frozen=True)
class PostgresBuild:
    dsn: str  # the database the project was built in
    loaded: dict[str, int]  # rows per raw_<source>.<stream> table the loader wrote


@pytest.fixture(scope="session")
def tiny_synced(tmp_path_factory) -> Path:
    """Tiny generated sources, every connection synced into a local lake: the folder."""
    root = tmp_path_factory.mktemp("tiny-build")
    started = time.perf_counter()
    oltp = f"sqlite:///{root}/shop.db"
    generate(GenerationRequest(SCALE, SEED, oltp, str(root / "landing")))
    lake = open_lake(str(root / "lake"))
    with crm_api_running(SCALE, SEED):
        env = {
            "OLTP_DSN": oltp,
            "LANDING_URL": str(root / "landing"),
            "CRM_API_URL": os.environ["CRM_API_URL"],
            "CRM_API_TOKEN": os.environ["CRM_API_TOKEN"],
        }
        connections = load_connections(REPO_ROOT / "connections.yml", env).connections
        for name, connection in connections.items():
            result = sync_connection(lake, name, connection)
            assert result.status == "succeeded", (name, result)
    print(f"generate and sync: {time.perf_counter() - started:.1f} s")
    return root


@pytest.fixture(scope="session")
def tiny_duckdb_build(tiny_synced: Path) -> Path:
    """The DuckDB build of that bronze (the reference): its warehouse file."""
    warehouse = tiny_synced / "warehouse.duckdb"
    started = time.perf_counter()
    result = dbt_build(
        "duckdb",
        tiny_synced,
        {
            "LAKE_ROOT": str(tiny_synced / "lake"),
            "DUCKDB_PATH": str(warehouse),
            "LAKE_CATALOG": f"sqlite:{tiny_synced / 'lake.sqlite'}",
        },
    )
    print(f"dbt build --target duckdb: {time.perf_counter() - started:.1f} s")
    assert_green(result)
    return warehouse


@pytest.fixture(scope="session")
def tiny_postgres_build(tiny_synced: Path, postgres_server) -> PostgresBuild:
    """The same bronze loaded into raw_<source>.<stream> of a database of its own on the
    session's server, and `dbt build --target postgres` there."""
    import psycopg

    database = "t_tiny_build"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        conn.execute(f'CREATE DATABASE "{database}"')
    dsn = postgres_server.dsn(database)
    started = time.perf_counter()
    loaded = load_bronze_to_postgres(open_lake(str(tiny_synced / "lake")), dsn)
    print(f"load bronze into PostgreSQL: {time.perf_counter() - started:.1f} s")
    work = tiny_synced / "postgres"
    started = time.perf_counter()
    result = dbt_build(
        "postgres",
        work,
        {**pg_env(dsn), "DUCKDB_PATH": str(work / "unused.duckdb")},
        unit_tests=True,  # the one build that runs dbt's unit tests on PostgreSQL
    )
    print(f"dbt build --target postgres: {time.perf_counter() - started:.1f} s")
    assert_green(result)
    results = json.loads((work / "target-postgres" / "run_results.json").read_text())["results"]
    unit = [r["status"] for r in results if r["unique_id"].startswith("unit_test.")]
    assert len(unit) >= 20 and set(unit) == {"pass"}, unit
    return PostgresBuild(dsn, loaded)


# -- a copy to change ---------------------------------------------------------------------------
def copy_of_the_build(synced: Path, warehouse: Path, work: Path) -> tuple[Path, Path]:
    """The DuckDB build copied into `work` (the warehouse file, the lake and its catalog), for
    a test that changes staging and runs dbt again: (warehouse file, lake folder)."""
    copied = work / "warehouse.duckdb"
    shutil.copy(warehouse, copied)
    lake = work / "lake"  # the runs write silver and gold there, not into the shared lake
    shutil.copytree(synced / "lake", lake)
    for catalog in synced.glob("lake.sqlite*"):  # the DuckLake's catalog beside the lake
        shutil.copy(catalog, work / catalog.name)
    return copied, lake


def warehouse_and_lake(warehouse: Path, lake: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse file (staging, writable) with the lake's DuckLake attached read-only as
    `lake` (intermediate and marts live there)."""
    con = duckdb.connect(str(warehouse))
    return connect(TableCatalog.beside(parse_lake_url(str(lake))), read_only=True, connection=con)


def dbt_run(
    warehouse: Path, lake: Path, work: Path, *args: str, verb: str = "run", green: bool = True
) -> str:
    """`dbt run *args` (or another `verb`) on that copy, as the pipeline runs dbt: its
    output, green unless `green` is false."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    env = {
        **clean,
        "DUCKDB_PATH": str(warehouse),
        "LAKE_ROOT": str(lake),
        "LAKE_CATALOG": f"sqlite:{lake.parent / (lake.name + '.sqlite')}",
    }
    command, env = in_the_data_folder(
        [verb, *args, "--log-path", str(work / "logs")], env, work / "target"
    )
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if green:
        assert_green(result)
    return result.stdout
