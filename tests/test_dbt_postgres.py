"""The dbt project on PostgreSQL: bronze loaded into raw_<source>.<stream>, `dbt build
--target postgres` green, and the same numbers as the DuckDB build of the same data.

Also the loader on its own: schemas unioned across syncs, reruns, failures, S3 lakes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa
import pytest

from ingestion.connections import load_connections
from ingestion.sync import sync_connection
from lake import open_lake, parse_lake_url
from lake.tables.catalog import TableCatalog, connect
from orchestration.assets.dbt import PIPELINE_BUILD
from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT
from tests.dbt_runs import dbt_on
from warehouse import postgres_raw, postgres_tables
from warehouse.postgres_raw import PostgresLoadError, load_bronze_to_postgres
from warehouse.postgres_tables import dsn_from_env

if TYPE_CHECKING:
    from tests.tiny_build import PostgresBuild

pytestmark = pytest.mark.integration
SCALE, SEED = 0.002, 23  # 2,000 orders
DBT_DIR = DBT_PROJECT_DIR
LAYER_SCHEMAS = ("staging", "intermediate", "marts", "snapshots")
TINY_BUILD = "tiny_build"  # the xdist group of the tests that read tests/tiny_build.py's build


# -- helpers ----------------------------------------------------------------------------------
def pg(dsn: str, sql: str, *params) -> list[tuple]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else []


def pg_env(dsn: str) -> dict[str, str]:
    """The profile's DBT_PG_* variables for a DSN (secrets in the env, never on a command line)."""
    url = urlsplit(dsn)
    return {
        "DBT_PG_HOST": url.hostname or "127.0.0.1",
        "DBT_PG_PORT": str(url.port or 5432),
        "DBT_PG_USER": url.username or "postgres",
        "DBT_PG_PASSWORD": url.password or "",
        "DBT_PG_DATABASE": url.path.lstrip("/"),
    }


def dbt_build(
    target: str,
    work: Path,
    env: dict[str, str],
    *,
    as_a_user: bool = False,
    unit_tests: bool = False,
) -> subprocess.CompletedProcess:
    """The pipeline's `dbt build --target <target>` (PIPELINE_BUILD: dbt's unit tests only if
    `unit_tests`; they check SQL logic on fixed inputs, the same on any data) with this
    run's own target and log folders (others may be using the project at the same time).
    On DuckDB, from the data folder that `env`'s paths name (tests/dbt_runs.py: no full
    parse of the project), unless `as_a_user`: plain `dbt` in dbt_project/ with the
    absolute paths, as an analytics engineer runs it."""
    args = ["build"] if unit_tests else list(PIPELINE_BUILD)
    args += ["--log-path", str(work / f"logs-{target}")]
    command, env = dbt_on(target, args, env, work / f"target-{target}", as_a_user=as_a_user)
    return subprocess.run(
        command, cwd=DBT_DIR, env=env, capture_output=True, text=True, timeout=600
    )


def assert_green(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "ERROR=0" in result.stdout, result.stdout[-2000:]


def drops_connection(tmp_path: Path):
    """A JSON-lines drop folder as a connection (the stream `drops.items`)."""
    landing = tmp_path / "landing"
    landing.mkdir(exist_ok=True)
    (tmp_path / "c.yml").write_text(
        f"connections:\n  drops:\n    source: files\n    config: {{url: '{landing}'}}\n"
        "    streams:\n"
        "      - {name: items, sync_mode: incremental, destination_sync_mode: append_dedup,"
        " primary_key: [id], pattern: '*.jsonl', format: jsonl}\n"
    )
    return landing, load_connections(tmp_path / "c.yml", {}).connections["drops"]


def columns(dsn: str, schema: str, table: str) -> dict[str, str]:
    return dict(
        pg(
            dsn,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            schema,
            table,
        )
    )


def leftover_load_tables(dsn: str) -> list[tuple]:
    return pg(dsn, "select schemaname, tablename from pg_tables where tablename like '\\_load\\_%'")


# -- the whole project on both engines (tests/tiny_build.py) -------------------------------
def duckdb_layers(warehouse: Path, lake_dir: Path) -> duckdb.DuckDBPyConnection:
    """The DuckDB build's layers under their dbt schema names, as on PostgreSQL: staging and
    snapshots from the warehouse file, intermediate and marts from the lake's DuckLake."""
    con = connect(TableCatalog.beside(parse_lake_url(str(lake_dir))), read_only=True)
    con.execute(f"attach '{warehouse}' as warehouse (read_only)")
    relations = con.execute(
        "select table_catalog, table_schema, table_name from information_schema.tables "
        f"where table_catalog in ('warehouse', 'lake') and table_schema in {LAYER_SCHEMAS}"
    ).fetchall()
    for catalog, schema, name in relations:
        con.execute(f'create schema if not exists memory."{schema}"')
        source = f'"{catalog}"."{schema}"."{name}"'
        con.execute(f'create view memory."{schema}"."{name}" as select * from {source}')
    return con


@pytest.mark.xdist_group(TINY_BUILD)
def test_dbt_build_on_postgres_agrees_with_duckdb(
    tiny_synced: Path, tiny_duckdb_build: Path, tiny_postgres_build: PostgresBuild
):
    synced, duckdb_build = tiny_synced, tiny_duckdb_build
    postgres_database, loaded = tiny_postgres_build.dsn, tiny_postgres_build.loaded
    lake = open_lake(str(synced / "lake"))

    # every bronze stream is a raw table with all its rows (DuckDB reads bronze as reference)
    bronze = duckdb.connect()
    for table, rows in loaded.items():
        if table.startswith("raw_ops."):
            continue  # the pipeline's records: compared through their staging models below
        source, stream = table.removeprefix("raw_").split(".")
        files = lake.uri("bronze", source, stream, "*", "*.parquet")
        expected = bronze.execute(
            f"select count(*) from read_parquet('{files}', union_by_name = true)"
        ).fetchone()[0]
        assert rows == expected == pg(postgres_database, f"select count(*) from {table}")[0][0]
    assert {"raw_shop.orders", "raw_clickstream.events", "raw_fx.rates"} <= loaded.keys()
    runs = lake.list_files(lake.path("_ops", "runs"), suffix=".json")
    assert loaded["raw_ops.sync_runs"] == len(runs) >= 3  # one per sync above
    assert loaded["raw_ops.dead_letters"] > 0  # the malformed clickstream lines

    # the source's orders, all of them, in the fact
    with sqlite3.connect(synced / "shop.db") as oltp:
        orders, cents = oltp.execute(
            "select count(*), sum(order_total_cents) from orders"
        ).fetchone()
    assert pg(
        postgres_database, "select count(*), sum(order_total_cents) from marts.fct_orders"
    ) == [(orders, cents)]

    # the same relations with the same rows on both engines
    warehouse = duckdb_layers(duckdb_build, synced / "lake")
    on_duckdb = {
        (schema, name)
        for schema, name in warehouse.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_catalog = 'memory' and table_schema in {LAYER_SCHEMAS}"
        ).fetchall()
    }
    on_postgres = {
        (schema, name)
        for schema, name in pg(
            postgres_database,
            "select table_schema, table_name from information_schema.tables "
            "where table_schema = any(%s)",
            list(LAYER_SCHEMAS),
        )
    }
    assert on_duckdb == on_postgres
    assert ("marts", "daily_revenue") in on_postgres
    print(f"{len(on_postgres)} relations with the same row counts on both engines")
    for schema, name in sorted(on_duckdb):
        duck = warehouse.execute(f"select count(*) from {schema}.{name}").fetchone()[0]
        assert pg(postgres_database, f"select count(*) from {schema}.{name}") == [(duck,)], name

    # revenue per day, country and product category, to the cent
    query = (
        "select cast(order_date as varchar), country_code, product_category, "
        "orders_with_category_count, gross_revenue_reporting from marts.daily_revenue"
    )
    duck_revenue = {
        (d, c, p): (n, Decimal(str(r))) for d, c, p, n, r in warehouse.execute(query).fetchall()
    }
    pg_revenue = {(d, c, p): (n, Decimal(r)) for d, c, p, n, r in pg(postgres_database, query)}
    assert pg_revenue == duck_revenue
    total = sum(r for _, r in pg_revenue.values())
    assert total > 0
    print(f"revenue: {total} on both engines over {len(pg_revenue)} day x country rows")

    # a few more numbers that go through the conversions, the snapshot and datediff
    for sql in (
        "select sum(order_total_reporting), sum(paid_cents) from marts.fct_orders",
        "select count(*), sum(case when is_current then 1 else 0 end) from marts.dim_customers",
        "select sum(lifetime_revenue_reporting), sum(lifespan_days) "
        "from marts.customer_lifetime_value",
    ):
        duck = [tuple(Decimal(str(v)) for v in row) for row in warehouse.execute(sql).fetchall()]
        assert [tuple(Decimal(v) for v in row) for row in pg(postgres_database, sql)] == duck, sql


# -- the loader -------------------------------------------------------------------------------
def test_a_new_column_between_two_syncs_loads_into_one_table_with_both(tmp_path, postgres_database):
    landing, connection = drops_connection(tmp_path)
    lake = open_lake(str(tmp_path / "lake"))
    # `note` is all nulls at first (bronze types it null), `attrs` is nested
    (landing / "a.jsonl").write_text(
        '{"id": 1, "v": "a", "note": null, "tags": ["x"], "attrs": {"k": 1}}\n'
    )
    sync_connection(lake, "drops", connection)
    (landing / "b.jsonl").write_text(
        '{"id": 2, "v": "b", "note": "n", "tags": [], "attrs": {"k": 2}, "colour": "red"}\n'
    )
    sync_connection(lake, "drops", connection)
    assert len(lake.list_files(lake.bronze("drops", "items"), ".parquet")) == 2

    assert load_bronze_to_postgres(lake, postgres_database)["raw_drops.items"] == 2
    types = columns(postgres_database, "raw_drops", "items")
    assert types["colour"] == types["note"] == "text"  # `note`: text, once null-typed
    assert types["attrs"] == "jsonb"  # nested values
    assert types["tags"] == "ARRAY"
    assert types["extracted_date"] == "date"
    assert types["_extracted_at"] == "timestamp with time zone"
    rows = pg(
        postgres_database,
        "select id, v, note, colour, attrs ->> 'k', tags from raw_drops.items order by id",
    )
    assert rows == [(1, "a", None, None, "1", ["x"]), (2, "b", "n", "red", "2", [])]


def test_a_rerun_replaces_the_table_with_the_same_rows_and_keeps_views_on_it(
    tmp_path, postgres_database
):
    landing, connection = drops_connection(tmp_path)
    lake = open_lake(str(tmp_path / "lake"))
    (landing / "a.jsonl").write_text('{"id": 1, "v": "a"}\n{"id": 2, "v": "b"}\n')
    sync_connection(lake, "drops", connection)
    assert load_bronze_to_postgres(lake, postgres_database)["raw_drops.items"] == 2
    # a view on the raw table, as dbt's staging views are
    pg(postgres_database, "create view public.items_v as select id, v from raw_drops.items")

    # the same bronze again, through the command line and the DBT_PG_* variables
    env = {**os.environ, **pg_env(postgres_database), "LAKE_URL": str(tmp_path / "lake")}
    for _ in range(2):
        cli = subprocess.run(
            [sys.executable, "-m", "warehouse.postgres_raw"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stderr
        assert "raw_drops.items\t2\n" in cli.stdout
    assert pg(postgres_database, "select id, v from public.items_v order by id") == [
        (1, "a"),
        (2, "b"),
    ]

    # a new column arrives: the table is refilled in place and the view keeps working
    (landing / "b.jsonl").write_text('{"id": 3, "v": "c", "colour": "red"}\n')
    sync_connection(lake, "drops", connection)
    assert load_bronze_to_postgres(lake, postgres_database)["raw_drops.items"] == 3
    assert pg(postgres_database, "select count(*) from public.items_v") == [(3,)]
    assert pg(postgres_database, "select colour from raw_drops.items where id = 3") == [("red",)]
    assert leftover_load_tables(postgres_database) == []


def test_columns_that_change_type_replace_the_table_and_drop_the_views_on_it(
    tmp_path, postgres_database
):
    lake = open_lake(str(tmp_path / "lake"))
    part = lake.path("bronze", "hand", "items", "extracted_date=2026-01-01", "part-1.parquet")
    first = pa.table({"id": pa.array([1, 2]), "v": pa.array(["a", "b"])})
    lake.write_parquet(part, first.to_batches(), first.schema)
    load_bronze_to_postgres(lake, postgres_database)
    pg(postgres_database, "create view public.hand_v as select v from raw_hand.items")

    # the stream is rewritten with `v` as a number: the old view cannot survive the change
    second = pa.table(
        {
            "id": pa.array([1], pa.uint64()),
            "v": pa.array([7], pa.int32()),
            "label": pa.array(["x"]).dictionary_encode(),
            "big": pa.array(["y"], pa.large_string()),
        }
    )
    lake.write_parquet(part, second.to_batches(), second.schema)
    assert load_bronze_to_postgres(lake, postgres_database, ["hand"]) == {"raw_hand.items": 1}
    assert columns(postgres_database, "raw_hand", "items") == {
        "id": "numeric",
        "v": "integer",
        "label": "text",
        "big": "text",
        "extracted_date": "date",
    }
    assert pg(postgres_database, "select to_regclass('public.hand_v') is null") == [(True,)]


def test_a_failed_load_leaves_the_previous_table_intact(tmp_path, postgres_database, monkeypatch):
    landing, connection = drops_connection(tmp_path)
    lake = open_lake(str(tmp_path / "lake"))
    (landing / "a.jsonl").write_text("".join(f'{{"id": {i}, "v": "a"}}\n' for i in range(10)))
    sync_connection(lake, "drops", connection)
    load_bronze_to_postgres(lake, postgres_database)
    pg(postgres_database, "create view public.items_v as select id from raw_drops.items")
    before = pg(postgres_database, "select * from raw_drops.items order by id")

    # new bronze, and the load dies after some rows went into PostgreSQL
    (landing / "b.jsonl").write_text('{"id": 10, "v": "b", "colour": "red"}\n')
    sync_connection(lake, "drops", connection)
    monkeypatch.setattr(postgres_raw, "BATCH_ROWS", 2)
    real_conform, calls = postgres_tables.conform, []

    def failing_conform(batch, schema):
        calls.append(batch.num_rows)
        if len(calls) == 3:
            raise OSError("connection to the lake lost")
        return real_conform(batch, schema)

    monkeypatch.setattr(postgres_tables, "conform", failing_conform)
    with pytest.raises(PostgresLoadError, match=r"drops\.items.*previous table is unchanged"):
        load_bronze_to_postgres(lake, postgres_database)
    assert len(calls) == 3
    assert pg(postgres_database, "select * from raw_drops.items order by id") == before
    assert pg(postgres_database, "select count(*) from public.items_v") == [(10,)]
    assert leftover_load_tables(postgres_database) == []

    # a file that is not Parquet: refused before anything is touched, naming the stream
    monkeypatch.undo()
    bad = lake.path("bronze", "drops", "items", "extracted_date=2026-01-01", "part-bad.parquet")
    lake.write_bytes(bad, b"not parquet")
    with pytest.raises(PostgresLoadError, match=r"drops\.items"):
        load_bronze_to_postgres(lake, postgres_database)
    assert pg(postgres_database, "select * from raw_drops.items order by id") == before

    # once the lake is right again, the load goes through
    lake.fs.delete_file(bad)
    assert load_bronze_to_postgres(lake, postgres_database)["raw_drops.items"] == 11


def test_the_loader_reads_an_s3_lake(tmp_path, postgres_database, s3_endpoint):
    os.environ.update(s3_endpoint.env)
    landing, connection = drops_connection(tmp_path)
    lake = open_lake(f"s3://raw-{uuid.uuid4().hex[:8]}/lake")
    (landing / "a.jsonl").write_text('{"id": 1, "v": "a"}\n')
    sync_connection(lake, "drops", connection)
    (landing / "b.jsonl").write_text('{"id": 2, "v": "b", "colour": "red"}\n')
    sync_connection(lake, "drops", connection)
    loaded = load_bronze_to_postgres(lake, postgres_database)
    assert loaded["raw_drops.items"] == 2 and loaded["raw_ops.sync_runs"] == 2
    assert pg(postgres_database, "select id, colour from raw_drops.items order by id") == [
        (1, None),
        (2, "red"),
    ]


def test_the_pipeline_records_load_into_raw_ops(tmp_path, postgres_database):
    landing, connection = drops_connection(tmp_path)
    lake = open_lake(str(tmp_path / "lake"))
    # nothing synced yet: the raw_ops tables exist, empty
    lake.bootstrap()
    loaded = load_bronze_to_postgres(lake, postgres_database)
    assert loaded == {
        "raw_ops.sync_runs": 0,
        "raw_ops.schema_events": 0,
        "raw_ops.alerts": 0,
        "raw_ops.dbt_invocations": 0,
        "raw_ops.dead_letters": 0,
        "raw_ops.replayed_dead_letters": 0,
    }

    (landing / "a.jsonl").write_text('{"id": 1, "v": "a"}\nnot json\n{"id": 2, "v": "b"}\n')
    first = sync_connection(lake, "drops", connection)
    (landing / "b.jsonl").write_text('{"id": 3, "v": "c", "colour": "red"}\n')
    second = sync_connection(lake, "drops", connection)
    lake.write_json(
        lake.path("_ops", "dbt", "inv-1.json"),
        {
            "invocation_id": "inv-1",
            "generated_at": "2026-01-01T00:00:00Z",
            "elapsed_s": 1.5,
            "counts": {"model": {"success": 3}},
            "failures": [],
        },
    )
    loaded = load_bronze_to_postgres(lake, postgres_database, ["ops"])
    assert loaded == {
        "raw_ops.sync_runs": 2,
        "raw_ops.schema_events": 1,  # the new column
        "raw_ops.alerts": 0,
        "raw_ops.dbt_invocations": 1,
        "raw_ops.dead_letters": 1,
        "raw_ops.replayed_dead_letters": 0,
    }
    runs = pg(
        postgres_database,
        "select sync_id, status, full_refresh, jsonb_array_length(streams), "
        "streams -> 0 ->> 'rows_written' from raw_ops.sync_runs order by started_at",
    )
    assert runs == [
        (first.sync_id, "succeeded", False, 1, "2"),
        (second.sync_id, "succeeded", False, 1, "1"),
    ]
    assert pg(
        postgres_database,
        "select events -> 0 ->> 'column' from raw_ops.schema_events",
    ) == [("colour",)]
    assert pg(
        postgres_database,
        "select elapsed_s, counts -> 'model' ->> 'success', failures from raw_ops.dbt_invocations",
    ) == [(1.5, "3", [])]
    ((raw, filename, row),) = pg(
        postgres_database, "select raw, filename, file_row_number from raw_ops.dead_letters"
    )
    assert raw == "not json" and row == 0
    assert filename.startswith(lake.uri("bronze", "_dlq", "drops", "items") + "/")
    assert lake.exists(filename)


def test_streams_and_names_the_loader_accepts(tmp_path):
    lake = open_lake(str(tmp_path / "lake"))
    table = pa.table({"id": [1]})
    for parts in (
        ("shop", "orders"),
        ("_dlq", "shop", "orders"),
        ("_staging", "shop", "x", "shop", "orders"),
    ):
        path = lake.path("bronze", *parts, "extracted_date=2026-01-01", "part-1.parquet")
        lake.write_parquet(path, table.to_batches(), table.schema)
    assert postgres_raw.bronze_streams(lake) == [("shop", "orders")]
    assert postgres_raw.raw_table("shop", "orders") == ("raw_shop", "orders")
    with pytest.raises(PostgresLoadError, match="reserved"):
        postgres_raw.raw_table("ops", "runs")  # raw_ops holds the pipeline's records
    for source, stream in (("shop", "Orders"), ("shop", "or-ders"), ("x" * 61, "orders")):
        with pytest.raises(PostgresLoadError, match="cannot be a PostgreSQL name"):
            postgres_raw.raw_table(source, stream)
    with pytest.raises(PostgresLoadError, match="no bronze for source 'crm'"):
        postgres_raw.bronze_streams(lake, ["crm"])
    dsn = dsn_from_env(
        {
            "DBT_PG_HOST": "127.0.0.1",
            "DBT_PG_PORT": "5432",
            "DBT_PG_USER": "a b",
            "DBT_PG_PASSWORD": "p@ss:/",
            "DBT_PG_DATABASE": "analytics",
        }
    )
    assert dsn == "postgresql://a%20b:p%40ss%3A%2F@127.0.0.1:5432/analytics?sslmode=prefer"
