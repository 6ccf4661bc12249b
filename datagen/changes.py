"""A change set for the OLTP database: new orders, updated orders, deleted orders.

So incremental and CDC syncs have something to catch. Each call moves the clock forward
(one hour after the latest `updated_at`), picks rows deterministically from the seed,
and applies everything in one transaction through plain SQL that SQLite and PostgreSQL
both run:

- inserts: copies of a sample of orders (with their items and payments) under new ids,
  placed on the last day of the generated period (the FX rates cover it);
- updates: a sample of orders moves to another status, with a new `updated_at`;
- deletes (optional): a sample of orders without refunds or disputes, with their items
  and payments. A cursor alone cannot see a hard delete: CDC can, and so can the sync
  engine's primary-key reconciliation pass on the SQLite shop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from datagen.oltp import connect, dialect_of

# columns copied for an inserted order; ids are shifted past the current maximum
ORDER_COLUMNS = ["customer_id", "merchant_id", "status", "currency", "order_total_cents"]
ITEM_COLUMNS = ["product_id", "quantity", "unit_price_cents"]
PAYMENT_COLUMNS = ["method", "status", "amount_cents", "currency"]
STATUS_MOVES = {"shipped": "delivered"}


@dataclass
class ChangeSet:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    changed_at: str = ""


def _one(cursor: Any, sql: str) -> Any:
    cursor.execute(sql)
    return cursor.fetchone()[0]


def _sample(fraction: float, seed: int, salt: int) -> str:
    """A deterministic predicate selecting about `fraction` of orders by id."""
    modulus = max(2, round(1 / fraction))
    return f"order_id % {modulus} = {(seed * 7 + salt) % modulus}"


def apply_changes(
    dsn: str, fraction: float = 0.01, seed: int = 42, deletes: bool = True
) -> ChangeSet:
    """Insert, update (and delete) about `fraction` of the orders each."""
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}")
    dialect = dialect_of(dsn)
    result = ChangeSet()
    with connect(dsn) as conn:
        cursor = conn.cursor()
        latest = _one(cursor, "SELECT MAX(updated_at) FROM orders")
        latest = datetime.fromisoformat(str(latest)) if isinstance(latest, str) else latest
        changed = latest + timedelta(hours=1)
        if dialect == "postgresql":
            stamp = f"TIMESTAMPTZ '{changed.isoformat()}'"
        else:
            stamp = f"'{changed.strftime('%Y-%m-%dT%H:%M:%S.%f')}'"
        result.changed_at = changed.isoformat()

        # new orders are dated the last day with FX rates (the generated period), changed now
        placed = _one(cursor, "SELECT MAX(created_at) FROM orders")
        placed = f"'{placed}'" if isinstance(placed, str) else f"TIMESTAMPTZ '{placed.isoformat()}'"
        order_offset = _one(cursor, "SELECT MAX(order_id) FROM orders")
        item_offset = _one(cursor, "SELECT MAX(order_item_id) FROM order_items")
        payment_offset = _one(cursor, "SELECT MAX(payment_id) FROM payments")
        # each change set samples other orders: the seed moves with the table's size
        seed = seed + int(order_offset)
        inserted = _sample(fraction, seed, 1)
        # ADBC does not report affected rows for every driver: count first
        result.inserted = _one(
            cursor, f"SELECT COUNT(*) FROM orders WHERE {inserted} AND order_id <= {order_offset}"
        )
        cursor.execute(
            f"INSERT INTO orders (order_id, {', '.join(ORDER_COLUMNS)}, created_at, updated_at) "
            f"SELECT order_id + {order_offset}, {', '.join(ORDER_COLUMNS)}, {placed}, {stamp} "
            f"FROM orders WHERE {inserted} AND order_id <= {order_offset}"
        )
        cursor.execute(
            f"INSERT INTO order_items (order_item_id, order_id, {', '.join(ITEM_COLUMNS)}, "
            f"created_at, updated_at) SELECT order_item_id + {item_offset}, "
            f"order_id + {order_offset}, {', '.join(ITEM_COLUMNS)}, {placed}, {stamp} "
            f"FROM order_items WHERE {inserted} AND order_id <= {order_offset}"
        )
        cursor.execute(
            f"INSERT INTO payments (payment_id, order_id, {', '.join(PAYMENT_COLUMNS)}, "
            f"created_at, updated_at) SELECT payment_id + {payment_offset}, "
            f"order_id + {order_offset}, {', '.join(PAYMENT_COLUMNS)}, {placed}, {stamp} "
            f"FROM payments WHERE {inserted} AND order_id <= {order_offset}"
        )

        updated = _sample(fraction, seed, 2)
        for old, new in STATUS_MOVES.items():
            result.updated += _one(
                cursor, f"SELECT COUNT(*) FROM orders WHERE {updated} AND status = '{old}'"
            )
            cursor.execute(
                f"UPDATE orders SET status = '{new}', updated_at = {stamp} "
                f"WHERE {updated} AND status = '{old}'"
            )

        if deletes:
            doomed = (
                f"{_sample(fraction, seed, 3)} AND order_id <= {order_offset} "
                "AND order_id NOT IN (SELECT order_id FROM refunds) "
                "AND order_id NOT IN (SELECT order_id FROM disputes)"
            )
            result.deleted = _one(cursor, f"SELECT COUNT(*) FROM orders WHERE {doomed}")
            for table in ("order_items", "payments"):
                cursor.execute(
                    f"DELETE FROM {table} WHERE order_id IN (SELECT order_id FROM orders "
                    f"WHERE {doomed})"
                )
            cursor.execute(f"DELETE FROM orders WHERE {doomed}")
        conn.commit()
        cursor.close()
    return result
