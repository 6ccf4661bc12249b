"""`python -m datagen.events` against a real broker, through the example streaming
connections into bronze: sales events name the shop's real customers and products at
their prices, keyed by customer; the CDC path lands the shop's orders as CDC rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb

from datagen.marketplace import generate_shop
from datagen.volumes import Volumes
from ingestion.connections import load_connections
from ingestion.sync import sync_connection
from lake import open_lake
from orchestration.settings import REPO_ROOT

EXAMPLE = REPO_ROOT / "connections.streaming.yml"


def publish(broker, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "datagen.events", "--bootstrap-servers",
         broker.bootstrap_servers, "--scale", "0.001", "--seed", "3", *args],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def sync(broker, tmp_path: Path, name: str):
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers}
    connection = load_connections(EXAMPLE, env).connections[name]
    result = sync_connection(open_lake(str(tmp_path)), name, connection)
    assert result.status == "succeeded"
    return result


def read(tmp_path: Path, connection: str, stream: str):
    folder = tmp_path / "bronze" / connection / stream
    con = duckdb.connect()
    return con.sql(f"select * from read_parquet('{folder}/*/*.parquet')").to_arrow_table()


def test_sales_and_clicks_are_consistent_with_the_shop_and_keyed_by_customer(
    kafka_broker, tmp_path
):
    out = publish(kafka_broker, "--count", "600", "--rate", "0", "--topic-prefix", "")
    assert "sent 600 events" in out
    result = sync(kafka_broker, tmp_path, "events")
    assert {s.stream: s.rows_written for s in result.streams} == {
        "sales_events": 300, "clickstream_events": 300,
    }  # fmt: skip
    shop = generate_shop(Volumes.for_scale(0.001), 3)
    con = duckdb.connect()
    con.register("products", shop["products"])
    con.register("customers", shop["customers"])
    sales = read(tmp_path, "events", "sales_events")
    con.register("sales", sales)
    mismatched = con.execute(
        "select count(*) from sales s left join products p using (product_id) "
        "left join customers c using (customer_id) "
        "where p.product_id is null or c.customer_id is null "
        "or s.amount_cents <> p.price_cents * s.quantity or s.currency <> p.currency "
        "or s.merchant_id <> p.merchant_id or s.region <> c.country_code "
        "or s._kafka_key <> cast(s.customer_id as varchar)"
    ).fetchone()[0]
    assert mismatched == 0
    # one customer, one partition
    spread = con.execute(
        "select max(n) from (select customer_id, count(distinct _kafka_partition) as n "
        "from sales group by customer_id)"
    ).fetchone()[0]
    assert spread == 1
    assert con.execute("select count(distinct order_id) from sales").fetchone()[0] == 300


def test_shop_changes_as_debezium_events_land_as_cdc_rows(kafka_broker, tmp_path):
    publish(kafka_broker, "--cdc", "orders", "--count", "200", "--rate", "0")
    sync(kafka_broker, tmp_path, "shop_cdc")
    rows = read(tmp_path, "shop_cdc", "orders").to_pylist()
    ops = Counter(r["_op"] for r in rows)
    assert ops["r"] == Volumes.for_scale(0.001).orders  # the snapshot
    assert ops["c"] + ops["u"] + ops["d"] == 200 and ops["d"]
    # deletes carry the key only; positions grow with every event
    deletes = [r for r in rows if r["_op"] == "d"]
    assert all(r["order_id"] is not None and r["status"] is None for r in deletes)
    positions = [r["_position"] for r in rows]
    assert len(set(positions)) == len(positions)


def test_sigterm_stops_the_producer_cleanly_even_when_its_launcher_ignored_it(kafka_broker):
    """SIGTERM stops a producer as Ctrl-C does (exit 0, its summary printed), also when it
    was started with SIGTERM ignored (inherited across exec): a producer that outlived
    SIGTERM held a test fixture for 60 s."""
    producer = subprocess.Popen(
        [sys.executable, "-m", "datagen.events", "--bootstrap-servers",
         kafka_broker.bootstrap_servers, "--scale", "0.001", "--rate", "200"],
        stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN),
    )  # fmt: skip
    try:
        time.sleep(3)  # the topics are created and events flow
        assert producer.poll() is None
        producer.send_signal(signal.SIGTERM)
        out, _ = producer.communicate(timeout=30)
    finally:
        producer.kill()
    assert producer.returncode == 0
    assert out.startswith("sent ") and " 0 events" not in out, out
