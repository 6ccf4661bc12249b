"""Hard deletes on a source without CDC (SQLite): the primary-key reconciliation pass lands
tombstones in bronze the way CDC does, once, and only for keys really gone."""

from __future__ import annotations

import sqlite3

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from datagen.changes import apply_changes
from ingestion.deletes import keys_gone, live_keys, tombstones
from ingestion.sync import sync_connection
from lake import open_lake
from tests.test_ingestion import bronze_table, generated, latest_per_key, sources

__all__ = ["generated", "sources"]  # fixtures shared with test_ingestion


def _ids(db, sql: str) -> set[int]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute(sql)}


def _tombstone_ids(lake, stream: str, key: str) -> list[int]:
    table = bronze_table(lake, "shop", stream)
    deletes = table.filter(pc.fill_null(pc.equal(table["_op"], "d"), False))
    return sorted(deletes[key].to_pylist())


def test_deleted_orders_get_one_tombstone_each_and_leave_the_latest_view(sources, tmp_path):
    root, connections = sources
    db = root / "shop.db"
    lake = open_lake(str(tmp_path / "lake"))
    sync_connection(lake, "shop", connections["shop"])
    before = _ids(db, "select order_id from orders")
    items_before = _ids(db, "select order_item_id from order_items")

    changes = apply_changes(f"sqlite:///{db}", 0.05, seed=3, deletes=True)
    assert changes.deleted > 0
    after = _ids(db, "select order_id from orders")
    deleted = sorted(before - after)
    assert len(deleted) == changes.deleted

    result = sync_connection(lake, "shop", connections["shop"])
    by_stream = {s.stream: s for s in result.streams}
    assert by_stream["orders"].rows_deleted == len(deleted)
    assert _tombstone_ids(lake, "orders", "order_id") == deleted
    gone_items = sorted(items_before - _ids(db, "select order_item_id from order_items"))
    assert gone_items and _tombstone_ids(lake, "order_items", "order_item_id") == gone_items
    # what staging keeps equals the source, key for key
    kept = {row[0] for row in latest_per_key(lake, "shop", "orders", "order_id", "order_id")}
    assert kept == after
    # the run record says what was deleted, and the counts still reconcile
    record = lake.read_json(lake.path("_ops", "runs", "shop", f"{result.sync_id}.json"))
    orders = next(s for s in record["streams"] if s["stream"] == "orders")
    assert orders["rows_deleted"] == len(deleted)
    assert orders["rows_read"] == orders["rows_written"] - orders["rows_deleted"]

    # nothing twice: a sync with no change lands no tombstone again
    again = sync_connection(lake, "shop", connections["shop"])
    assert {s.stream: s.rows_deleted for s in again.streams}["orders"] == 0
    assert _tombstone_ids(lake, "orders", "order_id") == deleted


def test_a_key_deleted_then_inserted_again_is_alive(sources, tmp_path):
    root, connections = sources
    db = root / "shop.db"
    lake = open_lake(str(tmp_path / "lake"))
    sync_connection(lake, "shop", connections["shop"], streams=["customers"])
    with sqlite3.connect(db) as conn:
        row = conn.execute("select * from customers order by customer_id limit 1").fetchone()
        conn.execute("delete from customers where customer_id = ?", (row[0],))
    sync_connection(lake, "shop", connections["shop"], streams=["customers"])
    assert _tombstone_ids(lake, "customers", "customer_id") == [row[0]]
    with sqlite3.connect(db) as conn:
        columns = [c[1] for c in conn.execute("pragma table_info(customers)")]
        placeholders = ", ".join("?" for _ in row)
        values = list(row)
        values[columns.index("updated_at")] = "2099-01-01T00:00:00.000000"
        conn.execute(f"insert into customers values ({placeholders})", values)
    sync_connection(lake, "shop", connections["shop"], streams=["customers"])
    kept = {r[0] for r in latest_per_key(lake, "shop", "customers", "customer_id", "customer_id")}
    assert row[0] in kept
    assert live_keys(lake, "shop", "customers", ["customer_id"]).num_rows == len(kept)


def test_detect_deletes_off_lands_no_tombstone(sources, tmp_path):
    root, connections = sources
    db = root / "shop.db"
    shop = connections["shop"]
    for stream in shop.streams:
        stream.model_extra["detect_deletes"] = False
    lake = open_lake(str(tmp_path / "lake"))
    sync_connection(lake, "shop", shop, streams=["orders"])
    apply_changes(f"sqlite:///{db}", 0.05, seed=3, deletes=True)
    result = sync_connection(lake, "shop", shop, streams=["orders"])
    assert result.streams[0].rows_deleted == 0
    assert _tombstone_ids(lake, "orders", "order_id") == []


@pytest.mark.parametrize("key", [["id"], ["day", "currency"]])
def test_keys_gone_compares_by_value_across_integer_widths(key):
    alive = pa.table({k: pa.array([1, 2, 3], pa.int64()) for k in key})
    source = pa.table({k: pa.array([1, 3], pa.int32()) for k in key})
    gone = keys_gone(alive, source, key)
    assert gone.to_pylist() == [dict.fromkeys(key, 2)]
    schema = pa.schema([*(pa.field(k, pa.int64()) for k in key), pa.field("name", pa.string())])
    rows = tombstones(gone, schema)
    assert rows.column_names == [*key, "name", "_op"]
    assert rows.to_pylist() == [{**dict.fromkeys(key, 2), "name": None, "_op": "d"}]


@pytest.mark.parametrize("key", [["id"], ["day", "currency"]])
def test_live_keys_ranks_only_keys_ever_deleted(tmp_path, key):
    """A key is alive when its newest version is not a delete: deleted, deleted then
    inserted again, never deleted, and deleted with an update in the same extraction."""
    from datetime import UTC, datetime

    import pyarrow.parquet as pq

    lake = open_lake(str(tmp_path / "lake"))
    folder = tmp_path / "lake" / "bronze" / "src" / "things" / "extracted_date=2026-01-01"
    folder.mkdir(parents=True)
    at = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(3)]
    syncs = [  # (extracted at, [(key number, op)])
        (at[0], [(1, None), (2, None), (3, None), (4, None)]),
        (at[1], [(1, "d"), (2, "d"), (4, None), (4, "d")]),
        (at[2], [(2, None), (3, None)]),
    ]
    for n, (extracted, rows) in enumerate(syncs):
        columns = {k: [i * (10**j) for i, _ in rows] for j, k in enumerate(key)}
        columns |= {"_op": [op for _, op in rows], "_extracted_at": [extracted] * len(rows)}
        table = pa.table(columns).cast(
            pa.schema([*(pa.field(k, pa.int64()) for k in key), pa.field("_op", pa.string()),
                       pa.field("_extracted_at", pa.timestamp("us", tz="UTC"))])
        )  # fmt: skip
        pq.write_table(table, folder / f"part-{n}.parquet")
    alive = live_keys(lake, "src", "things", key).sort_by([(k, "ascending") for k in key])
    assert alive.column(key[0]).to_pylist() == [2, 3]


def test_detect_deletes_at_most_once_per_interval(sources, tmp_path):
    """`detect_deletes: 1h`: the first incremental sync checks the keys, the next one within
    the hour does not (the time is kept in the stream's state), an old check runs again."""
    root, connections = sources
    db = root / "shop.db"
    shop = connections["shop"]
    for stream in shop.streams:
        stream.model_extra["detect_deletes"] = "1h"
    lake = open_lake(str(tmp_path / "lake"))
    sync_connection(lake, "shop", shop, streams=["orders"])  # checks (no bronze yet)
    apply_changes(f"sqlite:///{db}", 0.05, seed=3, deletes=True)
    # the first sync's check was just now: this one does not look at the keys
    assert sync_connection(lake, "shop", shop, streams=["orders"]).streams[0].rows_deleted == 0
    state_path = lake.path("_ops", "state", "shop.json")
    document = lake.read_json(state_path)
    orders = document["streams"]["orders"]["state"]
    assert "keys_checked_at" in orders
    orders["keys_checked_at"] = "2000-01-01T00:00:00+00:00"
    lake.write_json(state_path, document)
    assert sync_connection(lake, "shop", shop, streams=["orders"]).streams[0].rows_deleted > 0


def test_detect_deletes_refuses_a_bad_interval():
    from pydantic import ValidationError

    from ingestion.sources.sql import SqlStreamOptions

    assert SqlStreamOptions(name="t", detect_deletes="6h").detect_deletes.total_seconds() == 21600
    assert SqlStreamOptions(name="t", detect_deletes=False).detect_deletes is False
    with pytest.raises(ValidationError, match="30m, 6h, 1d"):
        SqlStreamOptions(name="t", detect_deletes="sometimes")
