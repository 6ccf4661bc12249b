"""A change set for the OLTP database: new orders, updated orders, deleted orders.

So incremental and CDC syncs have something to catch. Each call moves the clock forward
(one hour after the latest `updated_at`), picks rows deterministically from the seed,
and applies everything in one transaction through plain SQL that SQLite and PostgreSQL
both run:

- inserts: copies of a sample of orders (with their items and payments) under new ids,
  placed over the RECENT_DAYS days up to the latest order (inside the generated period,
  which the FX rates cover), each at a moment derived from its id: orders that arrive late,
  spread over recent days rather than piled on one;
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
RECENT_DAYS = 14
_RECENT_SECONDS = RECENT_DAYS * 86_400
# the k-th sampled order lands at frac(k * golden ratio) of the recent days: evenly spread
_GOLDEN_STEP = round(_RECENT_SECONDS * (5**0.5 - 1) / 2)


@dataclass
class ChangeSet:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    changed_at: str = ""


def _one(cursor: Any, sql: str) -> Any:
    cursor.execute(sql)
    return cursor.fetchone()[0]


def _modulus(fraction: float) -> int:
    return max(2, round(1 / fraction))


def _sample(fraction: float, seed: int, salt: int) -> str:
    """A deterministic predicate selecting about `fraction` of orders by id."""
    modulus = _modulus(fraction)
    return f"order_id % {modulus} = {(seed * 7 + salt) % modulus}"


def _placed_before(latest_order: Any, dialect: str, fraction: float) -> str:
    """SQL for the placement time of a copied order: up to RECENT_DAYS before the latest
    order, at an offset derived from the original `order_id` (the same in every table)."""
    offset = f"((order_id / {_modulus(fraction)}) * {_GOLDEN_STEP} % {_RECENT_SECONDS})"
    if dialect == "postgresql":
        return f"(TIMESTAMPTZ '{latest_order.isoformat()}' - {offset} * INTERVAL '1 second')"
    # SQLite keeps timestamps as ISO-8601 text, microseconds included
    return f"strftime('%Y-%m-%dT%H:%M:%S.000000', '{latest_order}', '-' || {offset} || ' seconds')"


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

        # new orders are dated over the recent days with FX rates (the generated period),
        # changed now; items and payments take their order's date
        latest_order = _one(cursor, "SELECT MAX(created_at) FROM orders")
        placed = _placed_before(latest_order, dialect, fraction)
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
