"""The CDC part of the ingestion benchmark: a table of its own, a postgres_cdc connection on
it, updates of every row, and the server's own logical decoding time as the floor."""

from __future__ import annotations

import time

CDC_TABLE = "bench_cdc"
CDC_CONNECTION = "bench_cdc"
SLOT = "bench_slot"
PUBLICATION = "bench_pub"
UPDATE_CHUNK = 100_000  # rows per transaction: many mid-sized transactions, as in OLTP


def create_cdc_table(dsn: str, source_table: str, rows: int) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {CDC_TABLE} AS SELECT * FROM {source_table} WHERE id <= {rows}")
        conn.execute(f"ALTER TABLE {CDC_TABLE} ADD PRIMARY KEY (id)")
        conn.execute(f"VACUUM ANALYZE {CDC_TABLE}")


def cdc_connection(dsn: str) -> dict:
    return {
        "source": "postgres_cdc",
        "config": {"dsn": dsn, "slot_name": SLOT, "publication_name": PUBLICATION},
        "streams": [
            {
                "name": "orders_cdc",
                "table": CDC_TABLE,
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
                "primary_key": ["id"],
            }
        ],
    }


def update_every_row(dsn: str, rows: int, round_: int) -> float:
    """Change every row (status, quantity) in transactions of UPDATE_CHUNK rows."""
    import psycopg

    statuses = ["refunded", "disputed", "closed", "reopened"]
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        # the server runs synchronous_commit=off; logical decoding sees only flushed WAL
        conn.execute("SET synchronous_commit = on")
        for low in range(0, rows, UPDATE_CHUNK):
            conn.execute(
                f"UPDATE {CDC_TABLE} SET status = %s, quantity = quantity + 1 "
                f"WHERE id > %s AND id <= %s",
                (statuses[round_ % len(statuses)], low, low + UPDATE_CHUNK),
            )
    return time.perf_counter() - started


def decode_floor(dsn: str) -> tuple[float, int, int]:
    """The server alone: peek every pending pgoutput message of the slot (what our read
    asks for) and count them on the server. Returns (seconds, row changes, bytes); the slot
    may still hold the changes of an earlier round, so the rate is per change peeked."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        changes, size = conn.execute(
            # I, U, D: pgoutput's insert, update and delete messages
            "SELECT count(*) FILTER (WHERE get_byte(data, 0) IN (73, 85, 68)), "
            "coalesce(sum(length(data)), 0) FROM "
            "pg_logical_slot_peek_binary_changes(%s, NULL, NULL, 'proto_version', '1', "
            "'publication_names', %s)",
            (SLOT, PUBLICATION),
        ).fetchone()
        return time.perf_counter() - started, changes, size
