"""The postgres_cdc source against a real PostgreSQL server (wal_level=logical): snapshot,
changes, concurrency, a server restart mid-read, a stream added later, and the CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from airbyte_protocol.models import AirbyteMessage, ConfiguredAirbyteCatalog, Type

from ingestion.protocol import (
    Checkpoint,
    Records,
    SourceError,
    SourceTotals,
    SourceUnavailableError,
)
from ingestion.sources import get_source
from ingestion.sources.postgres_cdc import PostgresCdcConfig, PostgresCdcSource
from ingestion.sources.sql import connect, normalize, normalized_schema

REPO_ROOT = Path(__file__).resolve().parent.parent
METADATA = ("_op", "_position")


# -- fixtures and helpers ---------------------------------------------------------------------
@pytest.fixture
def cdc_dsn(postgres_database) -> str:
    """A fresh database; conftest drops its replication slots afterwards."""
    return postgres_database


def sql(dsn: str, *statements: str, params: tuple | None = None) -> None:
    """Run statements, all in one transaction."""
    with psycopg.connect(dsn) as conn:
        for statement in statements:
            conn.execute(statement, params)


def config(dsn: str, **options: Any) -> PostgresCdcConfig:
    return PostgresCdcSource().parse_config({"dsn": dsn, **options})


def catalog(*names: str, mode: str = "incremental") -> ConfiguredAirbyteCatalog:
    return ConfiguredAirbyteCatalog.model_validate(
        {
            "streams": [
                {
                    "stream": {
                        "name": name,
                        "json_schema": {},
                        "supported_sync_modes": ["incremental", "full_refresh"],
                    },
                    "sync_mode": mode,
                    "destination_sync_mode": "append_dedup",
                }
                for name in names
            ]
        }
    )


@dataclass
class Run:
    """What one read committed."""

    batches: dict[str, list[pa.RecordBatch]] = field(default_factory=lambda: defaultdict(list))
    totals: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    checkpoints: list[Checkpoint] = field(default_factory=list)

    def rows(self, stream: str) -> list[dict]:
        return [row for batch in self.batches[stream] for row in batch.to_pylist()]


class Engine:
    """Commits events the way the sync engine does: a stream's records become durable with
    its next Checkpoint, whose state is what the next read gets."""

    def __init__(self, source: PostgresCdcSource | None = None):
        self.source = source or PostgresCdcSource()
        self.committed: dict[str, list[pa.RecordBatch]] = defaultdict(list)
        self.state: dict[str, dict] = {}

    def read(
        self,
        cfg: PostgresCdcConfig,
        cat: ConfiguredAirbyteCatalog,
        on_records: Callable[[Records], None] | None = None,
        stop_after_checkpoints: int | None = None,
    ) -> Run:
        """One read; `stop_after_checkpoints` simulates a crash after that many commits."""
        run, pending = Run(), defaultdict(list)
        events = self.source.read(cfg, cat, dict(self.state))
        for event in events:
            if isinstance(event, Records):
                assert event.data.schema.names[-2:] == list(METADATA)
                pending[event.stream].append(event.data)
                if on_records is not None:
                    on_records(event)
            elif isinstance(event, Checkpoint):
                batches = pending.pop(event.stream, [])
                self.committed[event.stream].extend(batches)
                run.batches[event.stream].extend(batches)
                run.checkpoints.append(event)
                self.state[event.stream] = event.state
                if len(run.checkpoints) == stop_after_checkpoints:
                    events.close()  # type: ignore[attr-defined]
                    return run
            elif isinstance(event, SourceTotals):
                run.totals[event.stream].append(event.rows)
        assert not any(pending.values()), "records after the last checkpoint"
        return run

    def latest(self, stream: str, key: str = "id") -> list[dict]:
        """Latest row per key by _position, deletes dropped: what the lake will show."""
        best: dict[Any, dict] = {}
        for batch in self.committed[stream]:
            for row in batch.to_pylist():
                current = best.get(row[key])
                if current is None or row["_position"] >= current["_position"]:
                    best[row[key]] = row
        return [
            {k: v for k, v in row.items() if k not in METADATA}
            for row in sorted(best.values(), key=lambda r: r[key])
            if row["_op"] != "d"
        ]


def table_rows(dsn: str, table: str, key: str = "id") -> list[dict]:
    """The table's current contents, read the way the snapshot reads it (ADBC)."""
    with connect(dsn) as conn:
        cursor = conn.cursor()
        cursor.execute(f'SELECT * FROM "{table}" ORDER BY "{key}"')
        data = cursor.fetch_arrow_table()
        schema = normalized_schema(data.schema)  # NUMERIC(p, s) as decimals, as bronze has it
        rows = pa.Table.from_batches(
            [normalize(b, schema) for b in data.to_batches()], schema=schema
        ).to_pylist()
        cursor.close()
    return rows


def slot_lsn(dsn: str, slot: str = "lakehouse") -> int | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (slot,),
        ).fetchone()
    return None if row is None else int(row[0])


def make_orders(dsn: str, n: int) -> None:
    sql(
        dsn,
        "CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, "
        "amount numeric(12,2), qty int, price float8, paid bool, created_at timestamptz, "
        "day date, note text)",
        "INSERT INTO orders SELECT i, 'c' || (i % 97), (i * 1.25)::numeric(12,2), i % 7, "
        "i / 8.0, i % 2 = 0, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute', "
        "date '2024-01-01' + i % 365, CASE WHEN i % 10 = 0 THEN NULL ELSE 'n' || i END "
        f"FROM generate_series(1, {n}) i",
    )


def make_customers(dsn: str, n: int) -> None:
    sql(
        dsn,
        "CREATE TABLE customers (id bigint PRIMARY KEY, name text, email varchar(100), "
        "active bool, updated_at timestamptz)",
        "INSERT INTO customers SELECT i, 'name ' || i, 'c' || i || '@example.com', "
        "i % 3 <> 0, timestamptz '2024-06-01 12:00:00+00' + i * interval '1 second' "
        f"FROM generate_series(1, {n}) i",
    )


def make_simple(dsn: str, table: str, n: int, pad: int = 8) -> None:
    sql(
        dsn,
        f"CREATE TABLE {table} (id int PRIMARY KEY, v int NOT NULL, label text)",
        f"INSERT INTO {table} SELECT i, i, repeat('x', {pad}) || i FROM generate_series(1, {n}) i",
    )


# -- 1. the first read is a snapshot ----------------------------------------------------------
def test_first_read_is_a_consistent_snapshot_of_each_table(cdc_dsn):
    make_orders(cdc_dsn, 5_000)
    make_customers(cdc_dsn, 1_000)
    cfg = config(cdc_dsn, batch_rows=2_000)
    engine = Engine()
    run = engine.read(cfg, catalog("orders", "customers"))

    orders, customers = run.rows("orders"), run.rows("customers")
    assert len(orders) == 5_000 and len(customers) == 1_000
    assert run.totals["orders"][0] == 5_000 and run.totals["customers"][0] == 1_000
    assert max(b.num_rows for b in run.batches["orders"]) <= 2_000
    lsn = engine.state["orders"]["lsn"]
    assert isinstance(lsn, int) and lsn > 0
    assert engine.state == {
        "orders": {"lsn": lsn, "snapshot_done": True},
        "customers": {"lsn": lsn, "snapshot_done": True},
    }
    assert {(r["_op"], r["_position"]) for r in orders + customers} == {("r", lsn)}
    assert slot_lsn(cdc_dsn) == lsn  # the slot starts exactly where the snapshot was taken

    schema = run.batches["orders"][0].schema
    assert schema.field("id").type == pa.int32()
    assert schema.field("qty").type == pa.int32()
    assert schema.field("price").type == pa.float64()
    assert schema.field("paid").type == pa.bool_()
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("day").type == pa.date32()
    assert schema.field("_position").type == pa.int64()
    assert run.batches["customers"][0].schema.field("id").type == pa.int64()

    row = {r["id"]: r for r in orders}[42]
    assert row["customer"] == "c42"
    assert str(row["amount"]) == "52.50"
    assert (row["qty"], row["price"], row["paid"], row["note"]) == (0, 5.25, True, "n42")
    assert row["created_at"] == datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=42)
    assert row["day"] == date(2024, 2, 12)
    assert {r["id"]: r for r in orders}[10]["note"] is None
    assert engine.latest("orders") == table_rows(cdc_dsn, "orders")
    assert engine.latest("customers") == table_rows(cdc_dsn, "customers")


# -- 2 and 3. changes, then nothing --------------------------------------------------------
def test_changes_after_the_snapshot_then_no_changes(cdc_dsn):
    make_orders(cdc_dsn, 5_000)
    make_customers(cdc_dsn, 1_000)
    cfg = config(cdc_dsn)
    engine = Engine()
    engine.read(cfg, catalog("orders", "customers"))
    snapshot_lsn = engine.state["orders"]["lsn"]

    sql(
        cdc_dsn,
        "INSERT INTO orders (id, customer, qty, created_at) VALUES "
        "(5001, 'new', 1, '2024-05-05 10:00:00+02'), (5002, 'new', 2, NULL), "
        "(5003, 'new', 3, NULL)",
        "INSERT INTO customers (id, name, active) VALUES (1001, 'late', true)",
    )
    sql(  # the same key twice in one transaction
        cdc_dsn,
        "UPDATE orders SET qty = 100 WHERE id = 1",
        "UPDATE orders SET qty = 200, amount = 9.99 WHERE id = 1",
    )
    sql(cdc_dsn, "UPDATE orders SET qty = 300 WHERE id = 1")  # and across transactions
    sql(cdc_dsn, "DELETE FROM orders WHERE id = 2", "DELETE FROM customers WHERE id = 5")
    sql(
        cdc_dsn,
        "UPDATE orders SET note = NULL, price = -1.5, paid = NOT paid WHERE id = 3",
        "UPDATE customers SET name = 'renamed', updated_at = now() WHERE id = 7",
    )
    sql(
        cdc_dsn,
        "INSERT INTO orders (id, customer) VALUES (5004, 'x')",
        "UPDATE orders SET qty = 4 WHERE id = 5004",
    )
    sql(
        cdc_dsn,
        "INSERT INTO orders (id, customer) VALUES (5005, 'gone')",
        "DELETE FROM orders WHERE id = 5005",
    )
    sql(cdc_dsn, "UPDATE customers SET id = 2000 WHERE id = 8")  # a key changes

    run = engine.read(cfg, catalog("orders", "customers"))
    orders = run.rows("orders")
    assert [(r["id"], r["_op"]) for r in orders] == [
        (5001, "c"),
        (5002, "c"),
        (5003, "c"),
        (1, "u"),
        (1, "u"),
        (2, "d"),
        (3, "u"),
        (5004, "c"),
        (5005, "d"),
    ]
    positions = [r["_position"] for r in orders]
    assert positions[0] > snapshot_lsn
    assert positions == sorted(positions)
    assert positions[0] == positions[1] == positions[2]  # one transaction, one position
    assert len(set(positions)) == 7
    first, second = orders[3], orders[4]
    assert (first["qty"], str(first["amount"]), second["qty"]) == (200, "9.99", 300)
    assert {k: v for k, v in orders[5].items() if k not in METADATA} == {
        "id": 2,
        **{c: None for c in orders[5] if c not in ("id", *METADATA)},
    }
    assert orders[0]["created_at"] == datetime(2024, 5, 5, 8, tzinfo=UTC)
    assert orders[6]["note"] is None and orders[6]["price"] == -1.5
    assert run.batches["orders"][0].schema == engine.committed["orders"][0].schema
    customers = run.rows("customers")
    assert [(r["id"], r["_op"]) for r in customers] == [
        (1001, "c"),
        (5, "d"),
        (7, "u"),
        (8, "d"),
        (2000, "u"),
    ]
    assert customers[1]["name"] is None and customers[3]["name"] is None
    assert customers[4]["name"] == "name 8"
    assert customers[3]["_position"] == customers[4]["_position"]
    assert run.totals == {"orders": [9], "customers": [5]}
    final = max(positions[-1], customers[-1]["_position"])
    assert engine.state["orders"] == {"lsn": final, "snapshot_done": True}
    assert engine.state["customers"] == {"lsn": final, "snapshot_done": True}
    assert engine.latest("orders") == table_rows(cdc_dsn, "orders")
    assert engine.latest("customers") == table_rows(cdc_dsn, "customers")

    # 3. nothing new: no rows, the same position; the slot acknowledged the committed state
    run = engine.read(cfg, catalog("orders", "customers"))
    assert run.rows("orders") == [] and run.rows("customers") == []
    assert run.totals == {"orders": [0], "customers": [0]}
    assert engine.state["orders"] == {"lsn": final, "snapshot_done": True}
    assert slot_lsn(cdc_dsn) == final


# -- 4. writes while the snapshot is read ---------------------------------------------------
def test_changes_during_the_snapshot_are_neither_lost_nor_duplicated(cdc_dsn):
    make_simple(cdc_dsn, "events", 20_000)
    stop, during = threading.Event(), []
    counts = {"writes": 0}

    def writer() -> None:
        rng = random.Random(7)
        next_id = 20_001
        with psycopg.connect(cdc_dsn, autocommit=True) as conn:
            while not stop.is_set():
                choice = rng.random()
                if choice < 0.5:
                    conn.execute(
                        "UPDATE events SET v = v + 1 WHERE id = %s", (rng.randint(1, next_id),)
                    )
                elif choice < 0.8:
                    conn.execute("INSERT INTO events VALUES (%s, 0, 'new')", (next_id,))
                    next_id += 1
                elif choice < 0.9:
                    conn.execute("DELETE FROM events WHERE id = %s", (rng.randint(1, next_id),))
                else:
                    with conn.transaction():
                        key = rng.randint(1, 20_000)
                        conn.execute("UPDATE events SET v = -1 WHERE id = %s", (key,))
                        conn.execute("UPDATE events SET label = 'twice' WHERE id = %s", (key,))
                counts["writes"] += 1
                time.sleep(0.001)

    def slow_consumer(event: Records) -> None:
        during.append(counts["writes"])
        time.sleep(0.03)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        time.sleep(0.1)
        engine = Engine()
        cfg = config(cdc_dsn, batch_rows=1_000, checkpoint_changes=25)
        first = engine.read(cfg, catalog("events"), on_records=slow_consumer)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert during[-1] - during[0] > 20, "the writer must have written during the snapshot"
    snapshot_lsn = first.rows("events")[0]["_position"]
    changes = [r for r in first.rows("events") if r["_op"] != "r"]
    assert all(r["_position"] > snapshot_lsn for r in changes)

    engine.read(cfg, catalog("events"))
    rows = [r for b in engine.committed["events"] for r in b.to_pylist()]
    # no (key, position) twice: nothing duplicated between the snapshot and the changes
    assert len({(r["id"], r["_position"]) for r in rows}) == len(rows)
    assert engine.latest("events") == table_rows(cdc_dsn, "events")


# -- a read interrupted after a checkpoint resumes exactly there ---------------------------
def test_an_interrupted_change_read_resumes_from_the_last_checkpoint(cdc_dsn):
    make_simple(cdc_dsn, "items", 50)
    cfg = config(cdc_dsn, batch_rows=4, checkpoint_changes=10)
    engine = Engine()
    engine.read(cfg, catalog("items"))
    for i in range(1, 41):  # 40 transactions of one change each
        sql(cdc_dsn, f"UPDATE items SET v = v + 1000 WHERE id = {i}")
    for i in range(51, 71):
        sql(cdc_dsn, f"INSERT INTO items VALUES ({i}, {i}, 'new')")
    snapshot = engine.committed["items"][:]

    crashed = engine.read(cfg, catalog("items"), stop_after_checkpoints=3)
    assert len(crashed.rows("items")) == 30  # 3 checkpoints, every 10 changes
    assert max(b.num_rows for b in crashed.batches["items"]) <= 4
    assert slot_lsn(cdc_dsn) < engine.state["items"]["lsn"]  # not acknowledged yet

    rest = engine.read(cfg, catalog("items"))
    assert slot_lsn(cdc_dsn) == crashed.checkpoints[-1].state["lsn"]  # acknowledged now
    changes = crashed.rows("items") + rest.rows("items")
    assert len(changes) == 60  # nothing lost, nothing read twice
    assert [r["_position"] for r in changes] == sorted({r["_position"] for r in changes})
    assert engine.committed["items"][: len(snapshot)] == snapshot
    assert engine.latest("items") == table_rows(cdc_dsn, "items")


# -- 5. the server goes away mid-read -------------------------------------------------------
def test_server_restart_mid_read_then_resume(cdc_dsn, postgres_server):
    make_simple(cdc_dsn, "small", 100)
    make_simple(cdc_dsn, "big", 300_000, pad=60)
    cfg = config(cdc_dsn, batch_rows=5_000)
    cat = catalog("small", "big")
    engine = Engine()
    seen: list[str] = []

    def stop_after_first_big_batch(event: Records) -> None:
        seen.append(event.stream)
        if event.stream == "big" and seen.count("big") == 1:
            postgres_server.stop()

    try:
        with pytest.raises(SourceError) as failure:
            engine.read(cfg, cat, on_records=stop_after_first_big_batch)
    finally:
        postgres_server.start()
    message = str(failure.value)
    assert isinstance(failure.value, SourceUnavailableError)  # a failed sync: exit 1
    assert message.startswith(
        f"PostgreSQL at 127.0.0.1:{postgres_server.port} closed the connection during the "
        "read of stream big ("
    ), message
    assert "Traceback" not in message
    assert set(engine.state) == {"small"}  # small's snapshot was committed, big's was not

    sql(
        cdc_dsn,
        "UPDATE big SET v = -v WHERE id % 1000 = 0",
        "INSERT INTO small VALUES (101, 1, 'n')",
    )
    sql(cdc_dsn, "DELETE FROM big WHERE id <= 10")
    engine.read(cfg, cat)  # big: a new snapshot; small: its changes
    sql(cdc_dsn, "UPDATE big SET label = 'after' WHERE id BETWEEN 11 AND 20")
    engine.read(cfg, cat)
    assert engine.latest("small") == table_rows(cdc_dsn, "small")
    assert engine.latest("big") == table_rows(cdc_dsn, "big")


# -- 6. a stream added later ------------------------------------------------------------------
def test_a_stream_added_later_gets_its_own_snapshot(cdc_dsn):
    make_simple(cdc_dsn, "first", 200)
    make_simple(cdc_dsn, "second", 300)
    cfg = config(cdc_dsn)
    engine = Engine()
    engine.read(cfg, catalog("first"))
    first_lsn = engine.state["first"]["lsn"]

    sql(cdc_dsn, "UPDATE first SET v = 0 WHERE id = 1", "UPDATE second SET v = 0 WHERE id = 1")
    sql(cdc_dsn, "DELETE FROM second WHERE id = 2")
    run = engine.read(cfg, catalog("first", "second"))
    # first: only its change; second: a snapshot that already has the changes above
    assert [(r["id"], r["_op"]) for r in run.rows("first")] == [(1, "u")]
    second = run.rows("second")
    assert len(second) == 299 and {r["_op"] for r in second} == {"r"}
    second_lsn = second[0]["_position"]
    assert second_lsn > first_lsn
    assert run.totals["second"] == [299, 0]
    assert engine.state["second"]["lsn"] >= second_lsn
    with psycopg.connect(cdc_dsn) as conn:
        published = conn.execute(
            "SELECT tablename FROM pg_publication_tables WHERE pubname = 'lakehouse' ORDER BY 1"
        ).fetchall()
        slots = conn.execute("SELECT slot_name, temporary FROM pg_replication_slots").fetchall()
    assert published == [("first",), ("second",)]
    assert slots == [("lakehouse", False)]  # the temporary slot is gone

    sql(
        cdc_dsn,
        "UPDATE second SET label = 'b' WHERE id < 5",
        "INSERT INTO first VALUES (201, 1, 'a')",
    )
    run = engine.read(cfg, catalog("first", "second"))
    assert sorted((r["id"], r["_op"]) for r in run.rows("second")) == [
        (1, "u"),
        (3, "u"),
        (4, "u"),
    ]
    assert [(r["id"], r["_op"]) for r in run.rows("first")] == [(201, "c")]
    assert engine.latest("first") == table_rows(cdc_dsn, "first")
    assert engine.latest("second") == table_rows(cdc_dsn, "second")


def test_a_missing_slot_is_a_clear_error(cdc_dsn):
    make_simple(cdc_dsn, "lonely", 3)
    cfg = config(cdc_dsn)
    engine = Engine()
    engine.read(cfg, catalog("lonely"))
    sql(cdc_dsn, "SELECT pg_drop_replication_slot('lakehouse')")
    with pytest.raises(SourceError, match=r"slot 'lakehouse' does not exist.*Reset their state"):
        engine.read(cfg, catalog("lonely"))


# -- types: pgoutput's text converted to the snapshot's Arrow types ----------------------------
def test_changed_values_have_the_snapshot_types(cdc_dsn):
    sql(
        cdc_dsn,
        "CREATE TYPE mood AS ENUM ('sad', 'happy')",
        "CREATE TABLE typed (id bigint PRIMARY KEY, i2 smallint, f4 real, f8 float8, "
        "n numeric, b bool, t text, c char(3), ts timestamptz, tsn timestamp, d date, "
        "tm time, iv interval, by bytea, u uuid, j jsonb, js json, ai int[], at text[], "
        "m mood, ip inet, big text)",
        "INSERT INTO typed (id, t) VALUES (1, 'one'), (2, 'two')",
    )
    cfg = config(cdc_dsn)
    engine = Engine()
    engine.read(cfg, catalog("typed"))
    sql(
        cdc_dsn,
        "UPDATE typed SET i2 = -3, f4 = 1.5, f8 = 'Infinity', n = 123456789.000100, b = false, "
        "t = 'é \"q\" ''s''', c = 'ab', ts = '2024-03-10 01:02:03.456789-05', "
        "tsn = '1999-12-31 23:59:59.5', d = '2024-02-29', tm = '23:59:59.999999', "
        "iv = '1 year 2 mons -3 days 04:05:06.5', by = '\\x00ff10', "
        "u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', j = '{\"k\": [1, null]}', js = '[1]', "
        "ai = '{1,NULL,3}', at = %s, m = 'happy', ip = '10.0.0.1/8', "
        "big = (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 3000) i) "
        "WHERE id = 1",
        params=(["a,b", 'c"d', None, "e\\f", "{x}", "NULL", " sp "],),
    )
    sql(
        cdc_dsn,
        "INSERT INTO typed (id, f8, n, ai, at) VALUES (3, 'NaN', 'NaN', '{}', '{{x,y},{z,w}}')",
    )
    run = engine.read(cfg, catalog("typed"))
    changes = run.rows("typed")
    assert [(r["id"], r["_op"]) for r in changes] == [(1, "u"), (3, "c")]
    assert run.batches["typed"][0].schema == engine.committed["typed"][0].schema
    # the table now, read by the source's snapshot path (a full refresh)
    full = Engine().read(cfg, catalog("typed", mode="full_refresh"))
    assert full.checkpoints == [Checkpoint("typed", {})]
    expected = {r["id"]: r for r in full.rows("typed")}
    got = {r["id"]: r for r in changes}

    def differences(a: dict, b: dict) -> dict:  # NaN != NaN
        assert list(a) == list(b)
        return {
            k: (a[k], b[k])
            for k in a
            if k not in METADATA and a[k] != b[k] and not (a[k] != a[k] and b[k] != b[k])
        }

    assert differences(got[1], expected[1]) == {}
    assert differences(got[3], expected[3]) == {}
    assert got[1]["ip"] == "10.0.0.1/8"  # types without a native Arrow type come as text
    assert got[1]["ts"] == datetime(2024, 3, 10, 6, 2, 3, 456789, tzinfo=UTC)
    assert got[3]["at"] == ["x", "y", "z", "w"]  # flattened, as the snapshot has them

    # an UPDATE that leaves a TOASTed value alone does not send it: documented as null
    sql(cdc_dsn, "UPDATE typed SET t = 'toast kept?' WHERE id = 1")
    changes = engine.read(cfg, catalog("typed")).rows("typed")
    assert len(changes) == 1 and changes[0]["t"] == "toast kept?"
    assert changes[0]["big"] is None and changes[0]["ts"] == got[1]["ts"]
    sql(cdc_dsn, "ALTER TABLE typed REPLICA IDENTITY FULL")  # the old row comes whole
    sql(cdc_dsn, "UPDATE typed SET t = 'full' WHERE id = 1")
    changes = engine.read(cfg, catalog("typed")).rows("typed")
    assert changes[0]["t"] == "full" and changes[0]["big"] == got[1]["big"]


# -- check -----------------------------------------------------------------------------------
def test_check_explains_what_is_wrong_without_the_password(cdc_dsn, postgres_server):
    make_simple(cdc_dsn, "present", 1)
    source = get_source("postgres_cdc")
    assert isinstance(source, PostgresCdcSource) and source.source_defined_cursor
    source.check(config(cdc_dsn, streams=[{"name": "present"}]))
    with pytest.raises(SourceError, match="absent does not exist"):
        source.check(config(cdc_dsn, streams=[{"name": "p", "table": "absent"}]))
    sql(cdc_dsn, "CREATE TABLE nokey (a int)")
    with pytest.raises(SourceError, match="REPLICA IDENTITY FULL"):
        source.check(config(cdc_dsn, streams=[{"name": "nokey"}]))

    sql(
        postgres_server.dsn(),
        "DROP ROLE IF EXISTS cdc_plain",
        "CREATE ROLE cdc_plain LOGIN PASSWORD 's3cret-pw'",
    )
    database = cdc_dsn.rsplit("/", 1)[1]
    plain = (
        f"postgresql://cdc_plain:s3cret-pw@{postgres_server.host}:{postgres_server.port}/{database}"
    )
    with pytest.raises(SourceError) as failure:
        source.check(config(plain))
    assert "REPLICATION" in str(failure.value) and "s3cret-pw" not in str(failure.value)
    with pytest.raises(SourceError) as failure:
        list(source.read(config(plain), catalog("present"), {}))
    assert "s3cret-pw" not in str(failure.value)
    with pytest.raises(ValueError, match="postgresql://"):
        config("sqlite:///x.db")

    discovered = {s.name: s for s in source.discover(config(cdc_dsn)).streams}
    assert discovered["present"].source_defined_primary_key == [["id"]]
    assert discovered["present"].source_defined_cursor is True
    assert [m.value for m in discovered["present"].supported_sync_modes] == [
        "incremental",
        "full_refresh",
    ]


# -- 7. the command line --------------------------------------------------------------------
def test_cli_read_prints_valid_airbyte_messages(cdc_dsn, tmp_path):
    make_customers(cdc_dsn, 50)
    config_file, catalog_file = tmp_path / "config.json", tmp_path / "catalog.json"
    config_file.write_text(json.dumps({"dsn": cdc_dsn, "streams": [{"name": "customers"}]}))
    catalog_file.write_text(catalog("customers").model_dump_json())

    def cli(*args: str) -> list[AirbyteMessage]:
        done = subprocess.run(
            [sys.executable, "-m", "ingestion.sources.postgres_cdc", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        )
        return [AirbyteMessage.model_validate_json(line) for line in done.stdout.splitlines()]

    messages = cli("read", "--config", str(config_file), "--catalog", str(catalog_file))
    records = [m for m in messages if m.type == Type.RECORD]
    states = [m for m in messages if m.type == Type.STATE]
    assert len(records) == 50
    assert records[0].record.stream == "customers"
    assert records[0].record.data["_op"] == "r"
    assert set(records[0].record.data) >= {"id", "name", "email", "active", "updated_at"}
    assert states and states[-1].state.stream.stream_descriptor.name == "customers"
    state = states[-1].state.stream.stream_state.model_dump()
    assert state["snapshot_done"] is True and state["lsn"] == records[0].record.data["_position"]

    sql(cdc_dsn, "UPDATE customers SET name = 'cli' WHERE id = 3")
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps([states[-1].state.model_dump(mode="json", exclude_none=True)]))
    messages = cli(
        "read",
        "--config",
        str(config_file),
        "--catalog",
        str(catalog_file),
        "--state",
        str(state_file),
    )
    records = [m.record.data for m in messages if m.type == Type.RECORD]
    assert [(r["id"], r["name"], r["_op"]) for r in records] == [(3, "cli", "u")]
    assert [m.type for m in cli("spec")] == [Type.SPEC]
