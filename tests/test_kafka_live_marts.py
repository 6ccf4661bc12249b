"""The dbt models over the streamed sales events (staging/events, marts/streaming): built
from a lake that has never streamed, then from real messages landed by the kafka source,
with a file landed twice and late events; the per-minute mart must equal, to the cent,
the totals of the distinct messages that reached bronze, on DuckDB and on PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingestion.sync import sync_connection
from lake import open_lake
from lake.location import parse_lake_url
from lake.tables.catalog import TableCatalog, connect
from orchestration.settings import DBT_PROJECT_DIR
from tests.dbt_runs import dbt_on
from tests.test_dbt_postgres import pg, pg_env
from tests.test_kafka_source import connection, new_topic, produce
from warehouse.postgres_raw import load_bronze_to_postgres

pytestmark = pytest.mark.integration
START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
Key = tuple[datetime, str, int, str]


def dbt_streaming(work: Path, env: dict[str, str], target: str = "duckdb") -> str:
    """`dbt build --select tag:streaming` (what `make demo-stream` refreshes); its output. On
    DuckDB from the data folder, as the pipeline starts it (tests/dbt_runs.py)."""
    args = ["build", "--select", "tag:streaming", "--log-path", str(work / "logs")]
    command, env = dbt_on(target, args, env, work / f"target-{target}")
    run = subprocess.run(
        command, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-4000:]
    return run.stdout


def sale(n: int, at: datetime, region: str, product: int, currency: str, cents: int) -> dict:
    at_text = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "event_id": f"e{n}",
        "event_type": "sale",
        "occurred_at": at_text,
        "order_id": n,
        "customer_id": n % 17,
        "product_id": product,
        "merchant_id": 1,
        "quantity": 1 + n % 3,
        "amount_cents": cents,
        "currency": currency,
        "region": region,
    }


def batch(first: int, count: int, start: datetime) -> list[dict]:
    """`count` sales over the minutes after `start`, in 3 regions, 4 products, 2 currencies."""
    return [
        sale(n, start + timedelta(seconds=7 * (n - first)), ("FR", "DE", "US")[n % 3],
             n % 4, "EUR" if n % 4 < 2 else "USD", 101 + 37 * n)
        for n in range(first, first + count)
    ]  # fmt: skip


def expected(sales: list[dict]) -> dict[Key, tuple[int, int, int]]:
    totals: dict[Key, list[int]] = defaultdict(lambda: [0, 0, 0])
    for s in sales:
        at = datetime.fromisoformat(s["occurred_at"].replace("Z", "+00:00"))
        key = (at.replace(second=0, microsecond=0, tzinfo=None), s["region"], s["product_id"],
               s["currency"])  # fmt: skip
        totals[key][0] += 1
        totals[key][1] += s["quantity"]
        totals[key][2] += s["amount_cents"]
    return {k: tuple(v) for k, v in totals.items()}


def rows(relation: list[tuple]) -> dict[Key, tuple[int, int, int]]:
    return {(m, r, p, c): (n, u, cents) for m, r, p, c, n, u, cents in relation}


MART_COLUMNS = (
    "sale_minute_at, region_code, product_id, currency_code, sales_count, units, revenue_cents"
)


def gold_mart(lake_dir: Path) -> dict[Key, tuple[int, int, int]]:
    """The mart as the lake's DuckLake holds it (its Parquet files alone would also count
    the rows a merge replaced: docs/lake.md)."""
    tables = TableCatalog.beside(parse_lake_url(str(lake_dir)))
    with connect(tables, read_only=True) as con:
        sql = f"select {MART_COLUMNS} from lake.marts.live_sales_per_minute"
        return rows(con.sql(sql).fetchall())


def test_the_live_sales_mart_equals_the_distinct_messages_in_bronze_on_duckdb_and_postgres(
    kafka_broker, tmp_path, postgres_database
):
    lake_dir = tmp_path / "lake"
    lake = open_lake(str(lake_dir))
    env = {
        "LAKE_ROOT": str(lake_dir),
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "LAKE_CATALOG": f"sqlite:{tmp_path / 'lake.sqlite'}",
    }

    # a lake that has never streamed (the batch demo's): the models build, empty
    dbt_streaming(tmp_path, env)
    assert gold_mart(lake_dir) == {}

    topic = new_topic(kafka_broker)
    events = connection(kafka_broker, [{"name": "sales_events", "topic": topic}])
    first = batch(0, 300, START)
    produce(kafka_broker, topic, first)
    assert sync_connection(lake, "events", events).status == "succeeded"
    dbt_streaming(tmp_path, env)
    assert gold_mart(lake_dir) == expected(first)

    # a file landed twice (an at-least-once copy), and new sales: some in minutes already
    # built, some 3 hours before anything built (a producer catching up on its backlog)
    landed = sorted((lake_dir / "bronze" / "events" / "sales_events").rglob("*.parquet"))
    shutil.copy(landed[0], landed[0].with_name("part-landed-again-0000.parquet"))
    late = batch(300, 40, START + timedelta(seconds=30))
    late += batch(340, 20, START - timedelta(hours=3))
    produce(kafka_broker, topic, late)
    assert sync_connection(lake, "events", events).status == "succeeded"
    output = dbt_streaming(tmp_path, env)  # incremental
    assert "assert_live_sales_reconcile_with_bronze" in output
    want = expected(first + late)
    assert gold_mart(lake_dir) == want
    assert sum(n for n, _, _ in want.values()) == 360

    # the same bronze on PostgreSQL, in one full build
    load_bronze_to_postgres(lake, postgres_database, ["events"])
    dbt_streaming(tmp_path, pg_env(postgres_database), target="postgres")
    on_postgres = pg(postgres_database, f"select {MART_COLUMNS} from marts.live_sales_per_minute")
    assert rows(on_postgres) == want
