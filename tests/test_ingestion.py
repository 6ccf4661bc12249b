"""First-cut ingestion: OLTP and landing files into bronze, DLQ, run records, reruns."""

from __future__ import annotations

import sqlite3

import pyarrow.dataset as ds
import pytest

from datagen.generate import GenerationRequest, generate
from ingestion.connections import load_connections
from ingestion.sync import sync_connection
from lake import open_lake
from orchestration.settings import REPO_ROOT


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    request = GenerationRequest(0.002, 5, f"sqlite:///{root}/shop.db", str(root / "landing"))
    generate(request)
    connections = load_connections(
        REPO_ROOT / "connections.yml",
        {"OLTP_DSN": request.oltp_dsn, "LANDING_URL": request.landing_dir},
    )
    return root, connections.connections


def bronze_table(lake, source, stream):
    return ds.dataset(lake.bronze(source, stream), format="parquet", partitioning="hive").to_table()


def test_full_refresh_lands_every_row_with_metadata_and_a_run_record(sources, tmp_path):
    root, connections = sources
    lake = open_lake(str(tmp_path / "lake"))
    result = sync_connection(lake, "shop", connections["shop"])
    with sqlite3.connect(root / "shop.db") as conn:
        source_orders = conn.execute(
            "select count(*), sum(order_total_cents) from orders"
        ).fetchone()
    orders = bronze_table(lake, "shop", "orders")
    assert (orders.num_rows, sum(orders["order_total_cents"].to_pylist())) == source_orders
    assert set(orders["_sync_id"].to_pylist()) == {result.sync_id}
    assert orders["_extracted_at"].null_count == 0
    assert orders.schema.field("extracted_date") is not None
    record = lake.read_json(lake.path("_ops", "runs", "shop", f"{result.sync_id}.json"))
    assert record["status"] == "succeeded"
    by_stream = {s["stream"]: s for s in record["streams"]}
    assert by_stream["orders"]["rows_written"] == source_orders[0]
    assert by_stream["orders"]["bytes_written"] > 0
    assert lake.read_json(lake.path("_ops", "state", "shop.json"))["last_sync_id"] == result.sync_id


def test_a_rerun_replaces_the_previous_copy(sources, tmp_path):
    _, connections = sources
    lake = open_lake(str(tmp_path / "lake"))
    first = sync_connection(lake, "shop", connections["shop"], streams=["customers"])
    second = sync_connection(lake, "shop", connections["shop"], streams=["customers"])
    customers = bronze_table(lake, "shop", "customers")
    assert customers.num_rows == first.streams[0].rows_written == second.streams[0].rows_written
    assert set(customers["_sync_id"].to_pylist()) == {second.sync_id}
    assert len(lake.list_files(lake.path("_ops", "runs", "shop"))) == 2


def test_malformed_lines_go_to_the_dlq_with_file_line_and_reason(sources, tmp_path):
    root, connections = sources
    lake = open_lake(str(tmp_path / "lake"))
    result = sync_connection(lake, "clickstream", connections["clickstream"])
    stream = result.streams[0]
    lines = sum(
        len(p.read_text().splitlines()) for p in (root / "landing" / "clickstream").glob("*.jsonl")
    )
    assert stream.rows_read == lines == stream.rows_written + stream.rows_dlq
    assert stream.rows_dlq > 0
    dlq = ds.dataset(
        lake.dlq("clickstream", "events"), format="parquet", partitioning="hive"
    ).to_table()
    assert dlq.num_rows == stream.rows_dlq
    row = dlq.slice(0, 1).to_pylist()[0]
    assert row["reason"].startswith("invalid JSON")
    assert row["source_file"].endswith(".jsonl") and row["line_number"] >= 1
    with open(row["source_file"]) as f:
        assert f.read().splitlines()[row["line_number"] - 1] == row["raw"]


def test_bad_csv_rows_go_to_the_dlq(tmp_path):
    landing = tmp_path / "fx"
    landing.mkdir()
    (landing / "rates-2026-01.csv").write_text(
        "rate_date,base_currency,quote_currency,rate\n2026-01-01,USD,EUR,0.9\n2026-01-02,USD\n"
        "2026-01-03,USD,EUR,0.91\n"
    )
    (tmp_path / "c.yml").write_text(
        f"connections:\n  fx:\n    source: files\n    config: {{url: '{landing}'}}\n"
        "    streams: [{name: rates, pattern: 'rates-*.csv', format: csv}]\n"
    )
    connection = load_connections(tmp_path / "c.yml", {}).connections["fx"]
    lake = open_lake(str(tmp_path / "lake"))
    stream = sync_connection(lake, "fx", connection).streams[0]
    assert (stream.rows_read, stream.rows_written, stream.rows_dlq) == (3, 2, 1)
    dlq = ds.dataset(lake.dlq("fx", "rates"), format="parquet", partitioning="hive").to_table()
    assert dlq["raw"].to_pylist() == ["2026-01-02,USD"]
    assert "expected 4 columns, got 2" in dlq["reason"][0].as_py()


def test_a_failing_source_records_a_failed_run_and_keeps_bronze(sources, tmp_path):
    _, connections = sources
    lake = open_lake(str(tmp_path / "lake"))
    good = sync_connection(lake, "shop", connections["shop"], streams=["merchants"])
    broken = connections["shop"].model_copy(
        update={"config": {"dsn": f"sqlite:///{tmp_path}/missing.db"}}
    )
    with pytest.raises(RuntimeError, match="does not exist"):
        sync_connection(lake, "shop", broken, streams=["merchants"])
    runs = [lake.read_json(f.path) for f in lake.list_files(lake.path("_ops", "runs", "shop"))]
    assert sorted(r["status"] for r in runs) == ["failed", "succeeded"]
    merchants = bronze_table(lake, "shop", "merchants")
    assert set(merchants["_sync_id"].to_pylist()) == {good.sync_id}
    assert lake.read_json(lake.path("_ops", "state", "shop.json"))["last_sync_id"] == good.sync_id
