"""The whole pipeline, for real: datagen -> bronze -> dbt (silver, gold, tests) via Dagster.

Run on a local lake, on an S3 endpoint (moto's server), and with the OLTP in PostgreSQL.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from datagen.volumes import Volumes
from lake import parse_lake_url
from lake.tables.catalog import TableCatalog, connect, tables_in
from orchestration.assets.dbt import DBT_ASSETS, PIPELINE_BUILD
from orchestration.dbt_targets import targets_root
from orchestration.demo import run_demo
from orchestration.settings import DBT_PROJECT_DIR, Settings
from tests.dbt_runs import in_the_data_folder
from tests.shared_lake import SharedDemo

pytestmark = pytest.mark.integration
TINY = "0.002"  # 2,000 orders
MAY_BE_EMPTY_ON_A_FIRST_RUN = {"dbt_build_results", "dlq_replays", "pipeline_alerts"}
STREAMED_ONLY = {"stg_events__sales_events", "live_sales_per_minute"}


def settings_for(tmp_path, **env) -> Settings:
    return Settings.from_env(
        {"DATA_DIR": str(tmp_path), "DATAGEN_SCALE": TINY, "DATAGEN_SEED": "11", **env}
    )


def assert_complete_run(report, expected_orders: int) -> None:
    for layer in ("bronze", "staging", "silver", "gold"):
        assert report.layers[layer], f"no datasets in {layer}"
        # the pipeline's own records may legitimately be empty on a first run: dbt builds
        # (recorded once a build ends), dead-letter replays and alerts (none on a good run);
        # the models over streamed events are empty without a stream (docs/streaming.md)
        data = {
            k: v
            for k, v in report.layers[layer].items()
            if k not in MAY_BE_EMPTY_ON_A_FIRST_RUN | STREAMED_ONLY
            and not k.startswith("stg_ops__")
        }
        assert all(rows > 0 for rows in data.values()), report.layers[layer]
    assert report.layers["bronze"]["shop.orders"] == expected_orders
    assert report.layers["gold"]["fct_orders"] == expected_orders
    tests = report.dbt["counts"]["test"]
    assert tests.get("pass", 0) >= 30 and set(tests) == {"pass"}, tests
    assert report.dbt["failures"] == []
    assert report.dlq_rows > 0  # the malformed clickstream lines, kept


def gold_tables(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """The run's DuckLake (silver and gold), read-only: the catalog beside the lake."""
    return connect(TableCatalog.beside(parse_lake_url(str(tmp_path / "lake"))), read_only=True)


def gold_revenue_by_day(tmp_path: Path) -> dict:
    with gold_tables(tmp_path) as con:
        rows = con.execute(
            "select order_date, sum(gross_revenue_reporting) "
            "from lake.marts.daily_revenue group by 1"
        ).fetchall()
    return dict(rows)


def dbt_env(tmp_path: Path) -> dict[str, str]:
    """The analytics engineer's environment: the repo's profile, this run's lake and file.
    Target and log folders of the run's own: a parallel test worker reads the project's
    target/manifest.json, which a build there would rewrite under it."""
    env = {
        **os.environ,
        "LAKE_ROOT": str(tmp_path / "lake"),
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "LAKE_CATALOG": f"sqlite:{tmp_path / 'lake.sqlite'}",
        "DBT_TARGET_PATH": str(tmp_path / "dbt-target"),
        "DBT_LOG_PATH": str(tmp_path / "dbt-logs"),
    }
    env.pop("DBT_TARGET", None)
    return env


def models_built_from_the_sources(manifest: dict) -> list[dict]:
    """The models whose content depends only on the source data: not those over the
    pipeline's own records (`ops`: every build adds to them) or over the snapshot (its
    validity timestamps are the times it ran)."""
    volatile: dict[str, bool] = {}

    def is_volatile(uid: str) -> bool:
        if uid not in volatile:
            if uid in manifest["sources"]:
                volatile[uid] = manifest["sources"][uid]["source_name"] == "ops"
            else:
                node = manifest["nodes"][uid]
                volatile[uid] = node["resource_type"] == "snapshot" or any(
                    is_volatile(parent) for parent in node["depends_on"]["nodes"]
                )
        return volatile[uid]

    return [
        node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and not is_volatile(uid)
    ]


def fingerprint_models(tmp_path: Path) -> dict[str, tuple]:
    """Each model's row count and an order-independent hash of its rows (doubles rounded:
    a sum may differ in its last bits with the order it adds in), from the warehouse file
    and the lake's DuckLake attached to it (silver and gold);
    `_dbt_invocation_id` and `_dbt_run_started_at` say which build wrote a row, so they
    are left out."""
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    found = {}
    tables = TableCatalog.beside(parse_lake_url(str(tmp_path / "lake")))
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        connect(tables, read_only=True, connection=con)
        for node in models_built_from_the_sources(manifest):
            relation = f'"{node["database"]}"."{node["schema"]}"."{node["alias"]}"'
            columns = [
                f'round("{name}", 6)' if kind in ("DOUBLE", "FLOAT") else f'"{name}"'
                for name, kind, *_ in con.execute(f"describe {relation}").fetchall()
                if name not in ("_dbt_invocation_id", "_dbt_run_started_at")
            ]
            found[node["name"]] = con.execute(
                f"select count(*), sum(hash({', '.join(columns)})::hugeint) from {relation}"
            ).fetchone()
    return found


def assert_full_refresh_rebuilds_what_the_incremental_runs_built(
    tmp_path: Path, *, as_a_user: bool = True
) -> None:
    """`dbt build --full-refresh` after incremental runs changes no model built from the
    sources: the incremental models merged every change (updates, and CDC deletes on a
    PostgreSQL OLTP) exactly as a rebuild from scratch computes it. As the analytics engineer
    runs it (plain `dbt` in dbt_project/, unit tests included), or as the pipeline does
    (tests/dbt_runs.py, PIPELINE_BUILD)."""
    incremental = fingerprint_models(tmp_path)
    assert incremental["fct_orders"][0] > 0 and len(incremental) >= 25, incremental
    if as_a_user:
        command = [str(DBT_PROJECT_DIR.parent / ".venv" / "bin" / "dbt"), "build", "--full-refresh"]
        env = dbt_env(tmp_path)
    else:
        command, env = in_the_data_folder(
            [*PIPELINE_BUILD, "--full-refresh"], dbt_env(tmp_path), tmp_path / "dbt-target"
        )
    dbt = subprocess.run(command, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    assert dbt.returncode == 0, dbt.stdout[-3000:]
    rebuilt = fingerprint_models(tmp_path)
    differ = {name: (incremental[name], rebuilt[name]) for name in rebuilt
              if incremental[name] != rebuilt[name]}  # fmt: skip
    assert differ == {}, differ


def test_demo_on_a_local_lake_reconciles_source_to_gold(tmp_path, shared_demo: SharedDemo):
    # the session's two demo runs (tests/shared_lake.py), read in their folders as they left
    # them: the first run, then the second, which changed the shop first
    report, first = shared_demo.first, shared_demo.after_first
    scale = Settings.from_env({"DATA_DIR": str(first)}).scale
    assert_complete_run(report, expected_orders=Volumes.for_scale(scale).orders)

    # gold equals an independent computation from the OLTP and FX files
    con = (
        duckdb.connect()
    )  # the OLTP through Python's sqlite3 (DuckDB's extension needs a download)
    with shop(first) as oltp:
        rows = oltp.execute(
            "select created_at, currency, order_total_cents, status from orders"
        ).fetchall()
    columns = ["created_at", "currency", "order_total_cents", "status"]
    orders = pa.table({name: [row[i] for row in rows] for i, name in enumerate(columns)})
    con.register("shop_orders", orders)
    expected = dict(
        con.execute(f"""
        with rates as (
            select rate_date, quote_currency, rate
            from read_csv('{first}/landing/fx_rates/*.csv')
        )
        select cast(o.created_at as timestamp)::date as d,
               sum(round(o.order_total_cents / 100.0 / coalesce(r.rate, 1.0), 2))
        from shop_orders o left join rates r
          on r.rate_date = cast(o.created_at as timestamp)::date and r.quote_currency = o.currency
        where o.status != 'cancelled' group by 1
    """).fetchall()
    )
    actual = gold_revenue_by_day(first)
    assert actual.keys() == expected.keys()
    assert all(abs(float(actual[d]) - float(expected[d])) < 0.02 for d in expected)

    # the second run changed the shop first; the incremental syncs carried the change to gold
    again, second = shared_demo.second, shared_demo.after_second
    with shop(first) as oltp:
        before = {row[0] for row in oltp.execute("select order_id from orders")}
    with shop(second) as oltp:
        after = {row[0] for row in oltp.execute("select order_id from orders")}
        orders, delivered = oltp.execute(
            "select count(*), sum(status = 'delivered') from orders"
        ).fetchone()
    assert again.stages[0][0] == "apply a change set to the shop"
    deleted = before - after
    assert deleted and after - before, again.changes  # inserts, and hard deletes on SQLite
    assert_gone_from_gold(second, deleted)
    assert again.layers["staging"]["stg_shop__orders"] == orders
    assert again.layers["gold"]["fct_orders"] == orders
    assert again.layers["bronze"]["shop.orders"] > orders  # new versions appended, deduped later
    with gold_tables(second) as con:
        (gold_delivered,) = con.execute(
            "select count(*) from lake.marts.fct_orders where order_status = 'delivered'"
        ).fetchone()
    assert gold_delivered == delivered

    # the analytics engineer's path, on a copy: `dbt build --full-refresh` in the project
    # folder with the repo's profile; it rebuilds exactly what the incremental runs built
    data_dir = tmp_path / "data"
    shared_demo.copy(second, data_dir)
    assert_full_refresh_rebuilds_what_the_incremental_runs_built(data_dir)
    # the unit tests the pipeline's builds leave out (PIPELINE_BUILD) ran in it, and passed
    results = json.loads((data_dir / "dbt-target" / "run_results.json").read_text())["results"]
    unit_tests = [r["status"] for r in results if r["unique_id"].startswith("unit_test.")]
    assert len(unit_tests) >= 20 and set(unit_tests) == {"pass"}, unit_tests
    assert report.dbt["counts"].get("unit_test") is None, report.dbt["counts"]
    assert_docs_describe_every_model_and_column(dbt_env(data_dir), data_dir / "dbt-target")


def shop(data_dir: Path) -> sqlite3.Connection:
    """The demo's SQLite OLTP, opened without writing to the folder (shared by the session)."""
    return sqlite3.connect(f"file:{data_dir / 'shop.db'}?immutable=1", uri=True)


def newest_pipeline_build_log(data_dir: Path) -> str:
    """dbt.log of the newest pipeline build in a data folder."""
    builds = sorted(targets_root(data_dir).glob(f"{DBT_ASSETS}-*/dbt.log"), key=os.path.getmtime)
    return builds[-1].read_text()


def assert_dbt_reused_the_parse_state(log: str) -> None:
    """A pipeline build (its dbt.log) started from a parse state, not from a full parse of the
    project: in a copied data folder, the one the copy brought along (same profile values in
    every folder: orchestration/dbt_launch.py)."""
    assert "Unable to do partial parsing" not in log, log[:3000]
    assert "skipping partial parsing" in log or "Partial parsing enabled" in log, log[:3000]


def assert_gone_from_gold(tmp_path: Path, order_ids: set[int]) -> None:
    """No gold table that carries an order id still holds one of these orders."""
    checked = []
    ids = ", ".join(str(i) for i in sorted(order_ids))
    with gold_tables(tmp_path) as con:
        for table in tables_in(con, "marts"):
            columns = {c[0] for c in con.execute(f"describe lake.marts.{table}").fetchall()}
            if "order_id" not in columns:
                continue
            (left,) = con.execute(
                f"select count(*) from lake.marts.{table} where order_id in ({ids})"
            ).fetchone()
            checked.append(table)
            assert left == 0, f"{table} still holds {left} rows of deleted orders"
    assert {"fct_orders", "fct_order_items", "fct_payments"} <= set(checked), checked


def assert_docs_describe_every_model_and_column(env: dict, target: Path) -> None:
    """`dbt docs generate` works in the target of the build just run, and the docs leave
    nothing out: every model and snapshot has a description, and so has every column the
    warehouse catalog finds in it. `--no-compile`: the build compiled every node into this
    target already (`make docs`, which compiles, runs in test_documented_commands)."""
    docs = subprocess.run(
        [
            str(DBT_PROJECT_DIR.parent / ".venv" / "bin" / "dbt"),
            *("docs", "generate", "--no-compile", "--target-path", str(target)),
        ],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert docs.returncode == 0, docs.stdout[-3000:]
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    nodes = {
        key: node
        for key, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "snapshot")
    }
    assert [n["name"] for n in nodes.values() if not n["description"].strip()] == []
    missing = []
    for key, node in nodes.items():
        documented = {c.lower() for c, col in node["columns"].items() if col["description"]}
        found = catalog["nodes"].get(key, {}).get("columns", {})
        missing += [f"{node['name']}.{c}" for c in found if c.lower() not in documented]
    assert missing == [], missing
    assert {"fct_orders", "daily_revenue"} <= {n["name"] for n in nodes.values()}


def test_demo_on_an_s3_lake(tmp_path, s3_endpoint):
    os.environ.update(s3_endpoint.env)
    lake_url = f"s3://lakehouse-{uuid.uuid4().hex[:8]}/demo"
    report = run_demo(settings_for(tmp_path, LAKE_URL=lake_url), quiet=True)
    assert_complete_run(report, expected_orders=2_000)
    assert not (tmp_path / "lake").exists()  # nothing landed locally
    from lake import open_lake

    lake = open_lake(lake_url)
    assert lake.list_files(lake.path("gold", "daily_revenue"), suffix=".parquet")
    assert lake.list_files(lake.path("_ops", "runs", "shop"), suffix=".json")


def test_demo_with_the_oltp_in_postgresql(tmp_path, postgres_database):
    report = run_demo(settings_for(tmp_path, OLTP_DSN=postgres_database), quiet=True)
    assert_complete_run(report, expected_orders=2_000)
    import psycopg

    with psycopg.connect(postgres_database) as conn:
        source = {
            t: conn.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("customers", "orders", "payments", "order_items")
        }
    for table, count in source.items():
        assert report.layers["bronze"][f"shop.{table}"] == count
    state = (tmp_path / "lake" / "_ops" / "state" / "shop.json").read_text()
    assert '"lsn"' in state  # the shop was read through the replication slot

    # a second run applies a change set with deletes; CDC carries them through to gold
    second = run_demo(settings_for(tmp_path, OLTP_DSN=postgres_database), quiet=True)
    assert "deleted" in second.changes and " 0 deleted" not in second.changes, second.changes
    with psycopg.connect(postgres_database) as conn:
        orders, total = conn.execute(
            "select count(*), sum(order_total_cents) from orders"
        ).fetchone()
    assert second.layers["gold"]["fct_orders"] == orders
    with gold_tables(tmp_path) as con:
        (gold,) = con.execute("select sum(order_total_cents) from lake.marts.fct_orders").fetchone()
    assert gold == total
    tombstones = (
        duckdb.connect()
        .execute(
            "select count(*) from read_parquet(?, union_by_name = true) where _op = 'd'",
            [f"{tmp_path}/lake/bronze/shop/orders/*/*.parquet"],
        )
        .fetchone()[0]
    )
    assert tombstones > 0  # the deletes arrived as tombstones, and staging dropped the keys
    # the analytics engineer's path is the local-lake test's: here as the pipeline runs it
    assert_full_refresh_rebuilds_what_the_incremental_runs_built(tmp_path, as_a_user=False)
    assert second.dbt["failures"] == []
