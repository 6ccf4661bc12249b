"""The sql source reading a whole PostgreSQL table on several connections, each a range of
its pages, in one exported snapshot: every row once, nothing committed after the snapshot,
and the keys handed over for hard deletes without a second scan."""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ingestion.connections import StreamConfig
from ingestion.protocol import KeySnapshot, Records, SourceTotals
from ingestion.sources import sql
from ingestion.sources.sql import SqlSource
from ingestion.sync import configured_catalog

ROWS = 30_000


@pytest.fixture
def orders(postgres_database: str) -> str:
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, amount numeric(12, 2) NOT NULL, "
            "note text, updated_at timestamptz NOT NULL)"
        )
        conn.execute(
            "INSERT INTO orders SELECT i, i / 100.0, repeat('x', i %% 50), "
            "timestamptz '2024-01-01' + i * interval '1 minute' "
            "FROM generate_series(1, %s) AS i",
            (ROWS,),
        )
    return postgres_database


def _read(dsn: str, parallel: int, incremental: bool = True) -> dict:
    source = SqlSource()
    config = source.parse_config({"dsn": dsn, "parallel_reads": parallel})
    stream = StreamConfig(
        name="orders",
        sync_mode="incremental" if incremental else "full_refresh",
        destination_sync_mode="append_dedup" if incremental else "overwrite",
        cursor_field="updated_at" if incremental else None,
        primary_key=["id"],
    )
    events = list(source.read(config, configured_catalog([stream], False), {}))
    batches = [e.data for e in events if isinstance(e, Records)]
    return {
        "table": pa.Table.from_batches(batches),
        "totals": next(e for e in events if isinstance(e, SourceTotals)),
        "keys": next((e.keys for e in events if isinstance(e, KeySnapshot)), None),
    }


def test_a_large_table_is_read_in_page_ranges_each_row_once(orders, monkeypatch):
    monkeypatch.setattr(sql, "PARALLEL_MIN_BYTES", 0)  # the test table is small
    with sql.connect(orders) as conn:
        config = SqlSource().parse_config({"dsn": orders, "parallel_reads": 3})
        ranges = SqlSource()._page_ranges(conn, config, "orders")
    assert len(ranges) == 3 and "AND" in ranges[1]  # first, middle and open-ended last

    read = _read(orders, parallel=3)
    ids = read["table"].column("id")
    assert read["table"].num_rows == ROWS == read["totals"].rows
    assert pc.count_distinct(ids).as_py() == ROWS
    assert (pc.min(ids).as_py(), pc.max(ids).as_py()) == (1, ROWS)
    assert read["table"].schema.field("amount").type == pa.decimal128(12, 2)
    # the keys of a whole-table read come from the rows read: the same set
    assert sorted(read["keys"].column("id").to_pylist()) == list(range(1, ROWS + 1))


def test_the_ranges_see_the_first_connections_snapshot(orders, monkeypatch):
    """A row inserted and one deleted between the export and the imports are seen as they
    were at the export, on every connection."""
    monkeypatch.setattr(sql, "PARALLEL_MIN_BYTES", 0)
    imported = sql._import_snapshot

    def change_then_import(conn, snapshot):
        with psycopg.connect(orders, autocommit=True) as writer:
            writer.execute("DELETE FROM orders WHERE id = %s", (ROWS,))  # in the last range
            writer.execute("INSERT INTO orders VALUES (%s, 1, 'late', now())", (ROWS + 1,))
        imported(conn, snapshot)

    monkeypatch.setattr(sql, "_import_snapshot", change_then_import)
    read = _read(orders, parallel=2)
    ids = set(read["table"].column("id").to_pylist())
    assert ids == set(range(1, ROWS + 1))
    assert read["totals"].rows == ROWS


def test_a_small_table_or_parallel_reads_1_uses_one_connection(orders):
    with sql.connect(orders) as conn:
        for parallel in (1, 4):  # 4: the table is below PARALLEL_MIN_BYTES
            config = SqlSource().parse_config({"dsn": orders, "parallel_reads": parallel})
            assert SqlSource()._page_ranges(conn, config, "orders") == [""]
    read = _read(orders, parallel=1, incremental=False)
    assert read["table"].num_rows == ROWS and read["keys"] is None
