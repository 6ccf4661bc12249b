"""The sync engine on real sources: full refresh, incremental with a change set, reruns,
DLQ, reconciliation, commits and recovery, on a local lake and on an S3 endpoint."""

from __future__ import annotations

import sqlite3

import duckdb
import pyarrow.dataset as ds
import pytest

from datagen.changes import apply_changes
from datagen.generate import GenerationRequest, generate
from ingestion.commit import CommitLog
from ingestion.connections import load_connections
from ingestion.sync import sync_connection
from lake import open_lake
from orchestration.settings import REPO_ROOT


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    request = GenerationRequest(0.002, 5, f"sqlite:///{root}/shop.db", str(root / "landing"))
    generate(request)
    return root, request


@pytest.fixture
def sources(generated, tmp_path):
    """A private copy of the OLTP database (tests change it) and the connections."""
    root, request = generated
    (tmp_path / "shop.db").write_bytes((root / "shop.db").read_bytes())
    connections = load_connections(
        REPO_ROOT / "connections.yml",
        {"OLTP_DSN": f"sqlite:///{tmp_path}/shop.db", "LANDING_URL": request.landing_dir},
    )
    return tmp_path, connections.connections


def bronze_table(lake, source, stream):
    return ds.dataset(
        lake.bronze(source, stream), filesystem=lake.fs, format="parquet", partitioning="hive"
    ).to_table()


def latest_per_key(lake, source: str, stream: str, keys: str, select: str = "*") -> list:
    """What staging keeps: the latest version of each key, deletes dropped."""
    files = lake.path("bronze", source, stream) + "/*/*.parquet"
    return (
        duckdb.connect()
        .execute(
            f"""select {select} from (
        select * exclude (version) from (
            select *, row_number() over (
                partition by {keys} order by _position desc nulls last, _extracted_at desc
            ) as version
            from read_parquet('{files}', union_by_name = true, hive_partitioning = true)
        ) where version = 1 and coalesce(_op, '') <> 'd'
        )"""
        )
        .fetchall()
    )


def source_rows(db, sql: str):
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()


def test_full_refresh_lands_every_row_with_metadata_and_reconciles(sources, tmp_path):
    root, connections = sources
    lake = open_lake(str(tmp_path / "lake"))
    result = sync_connection(lake, "shop", connections["shop"], full_refresh=True)
    expected = source_rows(root / "shop.db", "select count(*), sum(order_total_cents) from orders")
    orders = bronze_table(lake, "shop", "orders")
    assert (orders.num_rows, sum(orders["order_total_cents"].to_pylist())) == expected
    assert set(orders["_sync_id"].to_pylist()) == {result.sync_id}
    assert orders["_extracted_at"].null_count == 0
    assert {"_op", "_position", "extracted_date"} <= set(orders.column_names)
    record = lake.read_json(lake.path("_ops", "runs", "shop", f"{result.sync_id}.json"))
    assert record["status"] == "succeeded"
    by_stream = {s["stream"]: s for s in record["streams"]}
    assert by_stream["orders"]["rows_written"] == by_stream["orders"]["source_rows"] == expected[0]
    assert by_stream["orders"]["checksums"]["order_total_cents"] == {
        "source": expected[1],
        "read": expected[1],
    }
    assert by_stream["orders"]["bytes_written"] > 0
    state = lake.read_json(lake.path("_ops", "state", "shop.json"))
    assert state["last_sync_id"] == result.sync_id and state["pending"] is None
    assert state["streams"]["orders"]["state"]["cursor_field"] == "updated_at"
    assert state["streams"]["orders"]["columns"]["order_total_cents"] == "int64"


def test_incremental_syncs_catch_a_change_set_and_staging_matches_the_source(sources, tmp_path):
    root, connections = sources
    lake = open_lake(str(tmp_path / "lake"))
    first = sync_connection(lake, "shop", connections["shop"])
    changes = apply_changes(f"sqlite:///{root}/shop.db", fraction=0.05, seed=3, deletes=False)
    assert changes.inserted > 0 and changes.updated > 0
    second = sync_connection(lake, "shop", connections["shop"])
    orders = {s.stream: s for s in second.streams}["orders"]
    # only the changed rows (and those sharing the last cursor value) were read again
    assert orders.rows_read < {s.stream: s for s in first.streams}["orders"].rows_read / 2
    assert orders.rows_read >= changes.inserted + changes.updated
    expected = source_rows(
        root / "shop.db",
        "select count(*), sum(order_total_cents), sum(status = 'delivered') from orders",
    )
    got = latest_per_key(
        lake,
        "shop",
        "orders",
        "order_id",
        "count(*), sum(order_total_cents), sum(cast(status = 'delivered' as int))",
    )
    assert got == [tuple(expected)]
    # a third sync with nothing new adds no new keys
    sync_connection(lake, "shop", connections["shop"])
    assert latest_per_key(lake, "shop", "orders", "order_id", "count(*)") == [(expected[0],)]


def test_full_refresh_replaces_data_and_dead_letters_of_earlier_syncs(sources, tmp_path):
    _, connections = sources
    lake = open_lake(str(tmp_path / "lake"))
    sync_connection(lake, "clickstream", connections["clickstream"])
    sync_connection(lake, "clickstream", connections["clickstream"], full_refresh=True)
    last = sync_connection(lake, "clickstream", connections["clickstream"], full_refresh=True)
    events = bronze_table(lake, "clickstream", "events")
    assert set(events["_sync_id"].to_pylist()) == {last.sync_id}
    dlq = ds.dataset(lake.dlq("clickstream", "events"), format="parquet", partitioning="hive")
    assert dlq.count_rows() == last.streams[0].rows_dlq > 0
    assert last.streams[0].files_replaced >= 2


def test_malformed_lines_go_to_the_dlq_with_file_line_and_reason(sources, generated, tmp_path):
    _, connections = sources
    root, _ = generated
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
    assert row["location"].endswith(".jsonl") and row["line_number"] >= 1
    text = (root / "landing" / "clickstream" / row["location"]).read_text()
    assert text.splitlines()[row["line_number"] - 1] == row["raw"]


def test_incremental_files_read_only_new_and_changed_files(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.jsonl").write_text('{"id": 1, "v": "a"}\n{"id": 2, "v": "b"}\n')
    (tmp_path / "c.yml").write_text(
        f"connections:\n  drops:\n    source: files\n    config: {{url: '{landing}'}}\n"
        "    streams: [{name: items, sync_mode: incremental, destination_sync_mode: append_dedup,"
        " primary_key: [id], pattern: '*.jsonl', format: jsonl}]\n"
    )
    connection = load_connections(tmp_path / "c.yml", {}).connections["drops"]
    lake = open_lake(str(tmp_path / "lake"))
    assert sync_connection(lake, "drops", connection).streams[0].rows_read == 2
    assert sync_connection(lake, "drops", connection).streams[0].rows_read == 0
    (landing / "b.jsonl").write_text('{"id": 3, "v": "c"}\n')
    (landing / "a.jsonl").write_text('{"id": 1, "v": "a"}\n{"id": 2, "v": "B!"}\n')
    assert sync_connection(lake, "drops", connection).streams[0].rows_read == 3
    rows = latest_per_key(lake, "drops", "items", "id", "id, v")
    assert sorted(rows) == [(1, "a"), (2, "B!"), (3, "c")]


def test_a_failing_source_records_a_failed_run_and_keeps_bronze_and_state(sources, tmp_path):
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


def test_a_crash_after_the_commit_point_is_rolled_forward(sources, tmp_path, monkeypatch):
    root, connections = sources
    lake = open_lake(str(tmp_path / "lake"))

    def crash(self, pending):
        raise KeyboardInterrupt("killed between the commit point and the moves")

    with monkeypatch.context() as patch:
        patch.setattr(CommitLog, "_apply", crash)
        with pytest.raises(KeyboardInterrupt):
            sync_connection(lake, "shop", connections["shop"], streams=["customers"])
    state = lake.read_json(lake.path("_ops", "state", "shop.json"))
    assert state["pending"]["moves"]  # committed, not yet in place
    assert not lake.exists(lake.bronze("shop", "customers"))
    # the next sync finishes the commit first, then syncs from the committed cursor
    result = sync_connection(lake, "shop", connections["shop"], streams=["customers"])
    expected = source_rows(root / "shop.db", "select count(*) from customers")[0]
    customers = bronze_table(lake, "shop", "customers")
    assert customers.num_rows == expected + result.streams[0].rows_read
    assert latest_per_key(lake, "shop", "customers", "customer_id", "count(*)") == [(expected,)]
    assert not lake.list_files(lake.path("bronze", "_staging"))


def test_a_crash_before_the_commit_point_leaves_nothing_visible(sources, tmp_path, monkeypatch):
    _, connections = sources
    lake = open_lake(str(tmp_path / "lake"))

    def crash(self, *args):
        raise KeyboardInterrupt("killed while writing")

    with monkeypatch.context() as patch:
        patch.setattr(CommitLog, "commit", crash)
        with pytest.raises(KeyboardInterrupt):
            sync_connection(lake, "shop", connections["shop"], streams=["orders"])
    assert not lake.exists(lake.bronze("shop", "orders"))
    assert not lake.exists(lake.path("_ops", "state", "shop.json"))
    assert not lake.list_files(lake.path("bronze", "_staging"))  # the failed sync cleaned up
    result = sync_connection(lake, "shop", connections["shop"], streams=["orders"])
    assert bronze_table(lake, "shop", "orders").num_rows == result.streams[0].rows_read == 2000


@pytest.mark.integration
def test_incremental_syncs_on_an_s3_lake(sources, s3_endpoint, monkeypatch):
    root, connections = sources
    for key, value in s3_endpoint.env.items():
        monkeypatch.setenv(key, value)
    lake = open_lake("s3://lake-incremental/demo")
    sync_connection(lake, "shop", connections["shop"], streams=["orders"])
    apply_changes(f"sqlite:///{root}/shop.db", fraction=0.05, seed=4, deletes=False)
    second = sync_connection(lake, "shop", connections["shop"], streams=["orders"])
    assert 0 < second.streams[0].rows_read < 1000
    orders = bronze_table(lake, "shop", "orders")
    expected = source_rows(root / "shop.db", "select count(*) from orders")[0]
    assert len(set(orders["order_id"].to_pylist())) == expected
    assert not lake.list_files(lake.path("bronze", "_staging"))
    assert lake.read_json(lake.path("_ops", "state", "shop.json"))["pending"] is None


@pytest.mark.integration
def test_parquet_drops_in_an_s3_landing_zone(tmp_path, s3_endpoint, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    for key, value in s3_endpoint.env.items():
        monkeypatch.setenv(key, value)
    landing = open_lake("s3://landing-zone/drops")  # a bucket of its own, as vendors deliver
    for day in (1, 2):
        data = pa.table({"id": [day * 10 + i for i in range(3)], "amount": [1.5, 2.5, 3.5]})
        with landing.fs.open_output_stream(landing.path(f"2026-01-0{day}.parquet")) as out:
            pq.write_table(data, out)
    (tmp_path / "c.yml").write_text(
        "connections:\n  drops:\n    source: files\n    config: {url: 's3://landing-zone/drops'}\n"
        "    streams: [{name: items, sync_mode: incremental, destination_sync_mode: append,"
        " pattern: '*.parquet', format: parquet}]\n"
    )
    connection = load_connections(tmp_path / "c.yml", {}).connections["drops"]
    lake = open_lake(str(tmp_path / "lake"))
    first = sync_connection(lake, "drops", connection).streams[0]
    assert (first.rows_read, first.source_rows) == (6, 6)
    assert sync_connection(lake, "drops", connection).streams[0].rows_read == 0
    items = bronze_table(lake, "drops", "items")
    assert sorted(items["id"].to_pylist()) == [10, 11, 12, 20, 21, 22]
    assert set(items["_source_file"].to_pylist()) == {"2026-01-01.parquet", "2026-01-02.parquet"}
