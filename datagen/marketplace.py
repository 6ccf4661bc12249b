"""The shop's OLTP tables, generated column-wise with numpy (no per-row Python).

Amounts are integers in minor units (cents), as payment systems store them, so
sums reconcile exactly from the source to the marts. Timestamps are UTC.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from datagen.volumes import (
    CANCELLED_RATE,
    DISPUTE_RATE,
    FAILED_PAYMENT_RATE,
    ITEMS_PER_ORDER_MAX,
    PERIOD_DAYS,
    PERIOD_START,
    REFUND_RATE,
    Volumes,
)

COUNTRIES = np.array(["US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "CA", "IE"])
COUNTRY_WEIGHTS = np.array([0.30, 0.12, 0.12, 0.09, 0.06, 0.06, 0.05, 0.08, 0.07, 0.05])
CURRENCY_OF_COUNTRY = {
    "US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "ES": "EUR",
    "IT": "EUR", "NL": "EUR", "BR": "BRL", "CA": "CAD", "IE": "EUR",
}  # fmt: skip
CATEGORIES = np.array(
    ["electronics", "home", "fashion", "beauty", "sports", "toys", "books", "grocery"]
)
FIRST_NAMES = np.array(
    ["ana", "ben", "chloe", "david", "emma", "felix", "grace", "hugo", "ines", "jack",
     "kai", "lena", "mateo", "nora", "omar", "paula", "quinn", "rosa", "sam", "tara"]
)  # fmt: skip
LAST_NAMES = np.array(
    ["smith", "garcia", "muller", "martin", "rossi", "silva", "jones", "dubois",
     "novak", "kim", "brown", "costa", "meyer", "lopez", "wilson", "bauer"]
)  # fmt: skip
PAYMENT_METHODS = np.array(["card", "paypal", "bank_transfer", "gift_card"])
PAYMENT_METHOD_WEIGHTS = np.array([0.62, 0.22, 0.12, 0.04])
REFUND_REASONS = np.array(["damaged", "not_as_described", "late_delivery", "changed_mind"])
DISPUTE_REASONS = np.array(["fraudulent", "product_not_received", "duplicate", "unrecognized"])
DISPUTE_STATUSES = np.array(["open", "won", "lost"])

_SECONDS_PER_DAY = 86_400
_PERIOD_SECONDS = PERIOD_DAYS * _SECONDS_PER_DAY
_START_SECONDS = int(PERIOD_START.timestamp())


def _timestamps(seconds_since_start: np.ndarray) -> pa.Array:
    """Seconds since the period start -> Arrow timestamp[us, UTC]."""
    micros = (np.asarray(seconds_since_start, dtype=np.int64) + _START_SECONDS) * 1_000_000
    return pa.array(micros, type=pa.timestamp("us", tz="UTC"))


def _later(rng: np.random.Generator, base: np.ndarray, max_seconds: int) -> np.ndarray:
    """A moment after `base`, capped at the end of the period."""
    return np.minimum(base + rng.integers(0, max_seconds, size=len(base)), _PERIOD_SECONDS - 1)


def _ids(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=np.int64)


def _concat_strings(*parts: np.ndarray | str) -> np.ndarray:
    out = np.asarray(parts[0]).astype(object)
    for part in parts[1:]:
        out = out + (
            np.asarray(part).astype(str).astype(object) if not isinstance(part, str) else part
        )
    return out


def generate_shop(volumes: Volumes, seed: int) -> dict[str, pa.Table]:
    """Generate every OLTP table of the marketplace for the given volumes and seed."""
    rng = np.random.default_rng(seed)
    tables: dict[str, pa.Table] = {}

    # customers: signup spread over the period; emails in mixed case, as users type them
    n_c = volumes.customers
    customer_ids = _ids(n_c)
    first = FIRST_NAMES[rng.integers(0, len(FIRST_NAMES), n_c)]
    last = LAST_NAMES[rng.integers(0, len(LAST_NAMES), n_c)]
    emails = _concat_strings(first, ".", last, customer_ids, "@example.com")
    shouted = rng.random(n_c) < 0.05
    emails[shouted] = np.char.upper(emails[shouted].astype(str)).astype(object)
    c_country = rng.choice(COUNTRIES, n_c, p=COUNTRY_WEIGHTS)
    c_created = rng.integers(0, _PERIOD_SECONDS // 2, n_c)
    c_updated = _later(rng, c_created, 30 * _SECONDS_PER_DAY)
    tables["customers"] = pa.table(
        {
            "customer_id": customer_ids,
            "email": pa.array(emails, pa.string()),
            "first_name": pa.array(np.char.capitalize(first.astype(str)), pa.string()),
            "last_name": pa.array(np.char.capitalize(last.astype(str)), pa.string()),
            "country_code": pa.array(c_country, pa.string()),
            "created_at": _timestamps(c_created),
            "updated_at": _timestamps(c_updated),
        }
    )

    # merchants: each sells in its country's currency
    n_m = volumes.merchants
    merchant_ids = _ids(n_m)
    m_country = rng.choice(COUNTRIES, n_m, p=COUNTRY_WEIGHTS)
    m_currency = np.vectorize(CURRENCY_OF_COUNTRY.get, otypes=[object])(m_country)
    m_created = rng.integers(0, _PERIOD_SECONDS // 10, n_m)
    tables["merchants"] = pa.table(
        {
            "merchant_id": merchant_ids,
            "name": pa.array(_concat_strings("Merchant ", merchant_ids), pa.string()),
            "country_code": pa.array(m_country, pa.string()),
            "currency": pa.array(m_currency, pa.string()),
            "category": pa.array(CATEGORIES[rng.integers(0, len(CATEGORIES), n_m)], pa.string()),
            "created_at": _timestamps(m_created),
            "updated_at": _timestamps(_later(rng, m_created, 60 * _SECONDS_PER_DAY)),
        }
    )

    # products: product p belongs to merchant ((p - 1) % n_m) + 1, so an order's items can be
    # drawn from its merchant's catalogue with arithmetic instead of a lookup
    n_p = volumes.products
    product_ids = _ids(n_p)
    p_merchant = (product_ids - 1) % n_m + 1
    p_price = np.round(np.exp(rng.normal(3.3, 0.9, n_p)) * 100).astype(np.int64) + 99
    p_created = rng.integers(0, _PERIOD_SECONDS // 5, n_p)
    tables["products"] = pa.table(
        {
            "product_id": product_ids,
            "merchant_id": p_merchant,
            "name": pa.array(_concat_strings("Product ", product_ids), pa.string()),
            "category": pa.array(CATEGORIES[rng.integers(0, len(CATEGORIES), n_p)], pa.string()),
            "price_cents": p_price,
            "currency": pa.array(m_currency[p_merchant - 1], pa.string()),
            "created_at": _timestamps(p_created),
            "updated_at": _timestamps(_later(rng, p_created, 90 * _SECONDS_PER_DAY)),
        }
    )

    # orders: placed after the customer signed up; order volume grows through the period
    n_o = volumes.orders
    order_ids = _ids(n_o)
    o_customer = rng.integers(1, n_c + 1, n_o)
    o_merchant = rng.integers(1, n_m + 1, n_o)
    growth = rng.power(1.6, n_o)  # skewed towards the end of the period
    o_created = np.maximum(
        (growth * (_PERIOD_SECONDS - 1)).astype(np.int64), c_created[o_customer - 1] + 60
    )
    o_created = np.minimum(o_created, _PERIOD_SECONDS - 7 * _SECONDS_PER_DAY)

    # order items: 1..4 per order, products from the order's merchant
    n_items = rng.integers(1, ITEMS_PER_ORDER_MAX + 1, n_o)
    item_order_idx = np.repeat(np.arange(n_o), n_items)
    products_per_merchant = n_p // n_m
    item_product = o_merchant[item_order_idx] + n_m * rng.integers(
        0, products_per_merchant, len(item_order_idx)
    )
    item_qty = rng.choice(np.array([1, 1, 1, 2, 2, 3]), len(item_order_idx)).astype(np.int64)
    item_price = p_price[item_product - 1]
    order_total = np.bincount(item_order_idx, weights=item_qty * item_price, minlength=n_o)
    order_total = order_total.astype(np.int64)
    o_currency = m_currency[o_merchant - 1]

    cancelled = rng.random(n_o) < CANCELLED_RATE
    refunded = (~cancelled) & (rng.random(n_o) < REFUND_RATE)
    status = np.where(
        cancelled,
        "cancelled",
        np.where(refunded, "refunded", np.where(rng.random(n_o) < 0.85, "delivered", "shipped")),
    )
    o_updated = _later(rng, o_created, 10 * _SECONDS_PER_DAY)
    tables["orders"] = pa.table(
        {
            "order_id": order_ids,
            "customer_id": o_customer,
            "merchant_id": o_merchant,
            "status": pa.array(status, pa.string()),
            "currency": pa.array(o_currency, pa.string()),
            "order_total_cents": order_total,
            "created_at": _timestamps(o_created),
            "updated_at": _timestamps(o_updated),
        }
    )
    item_created = o_created[item_order_idx]
    tables["order_items"] = pa.table(
        {
            "order_item_id": _ids(len(item_order_idx)),
            "order_id": order_ids[item_order_idx],
            "product_id": item_product.astype(np.int64),
            "quantity": item_qty,
            "unit_price_cents": item_price,
            "created_at": _timestamps(item_created),
            "updated_at": _timestamps(item_created),
        }
    )

    # payments: a failed attempt for some orders, then one final attempt that succeeds
    # (or fails, for cancelled orders)
    has_failed_first = rng.random(n_o) < FAILED_PAYMENT_RATE
    attempt_order_idx = np.concatenate([np.flatnonzero(has_failed_first), np.arange(n_o)])
    is_final = np.concatenate([np.zeros(has_failed_first.sum(), bool), np.ones(n_o, bool)])
    attempt_order_idx, is_final = _sorted_by(attempt_order_idx, is_final)
    pay_status = np.where(is_final & ~cancelled[attempt_order_idx], "succeeded", "failed")
    pay_created = o_created[attempt_order_idx] + np.where(is_final, 120, 30)
    method = rng.choice(PAYMENT_METHODS, len(attempt_order_idx), p=PAYMENT_METHOD_WEIGHTS)
    payment_ids = _ids(len(attempt_order_idx))
    tables["payments"] = pa.table(
        {
            "payment_id": payment_ids,
            "order_id": order_ids[attempt_order_idx],
            "method": pa.array(method, pa.string()),
            "status": pa.array(pay_status, pa.string()),
            "amount_cents": order_total[attempt_order_idx],
            "currency": pa.array(o_currency[attempt_order_idx], pa.string()),
            "created_at": _timestamps(pay_created),
            "updated_at": _timestamps(pay_created + 5),
        }
    )

    # refunds: full or partial, against the successful payment of a refunded order
    successful = pay_status == "succeeded"
    final_payment_of_order = np.zeros(n_o, np.int64)
    final_payment_of_order[attempt_order_idx[successful]] = payment_ids[successful]
    refund_orders = np.flatnonzero(refunded)
    partial = rng.random(len(refund_orders)) < 0.3
    refund_amount = np.where(
        partial, order_total[refund_orders] // 2, order_total[refund_orders]
    ).astype(np.int64)
    refund_created = _later(rng, o_created[refund_orders] + _SECONDS_PER_DAY, 20 * _SECONDS_PER_DAY)
    tables["refunds"] = pa.table(
        {
            "refund_id": _ids(len(refund_orders)),
            "payment_id": final_payment_of_order[refund_orders],
            "order_id": order_ids[refund_orders],
            "amount_cents": refund_amount,
            "currency": pa.array(o_currency[refund_orders], pa.string()),
            "reason": pa.array(
                REFUND_REASONS[rng.integers(0, len(REFUND_REASONS), len(refund_orders))],
                pa.string(),
            ),
            "created_at": _timestamps(refund_created),
            "updated_at": _timestamps(refund_created + 60),
        }
    )

    # disputes: chargebacks on successful payments, likelier at a few risky merchants
    paid_orders = np.flatnonzero(~cancelled)
    risky_merchant = rng.random(n_m) < 0.05
    dispute_p = np.where(
        risky_merchant[o_merchant[paid_orders] - 1], DISPUTE_RATE * 8, DISPUTE_RATE
    )
    dispute_orders = paid_orders[rng.random(len(paid_orders)) < dispute_p]
    dispute_created = _later(
        rng, o_created[dispute_orders] + 3 * _SECONDS_PER_DAY, 30 * _SECONDS_PER_DAY
    )
    tables["disputes"] = pa.table(
        {
            "dispute_id": _ids(len(dispute_orders)),
            "payment_id": final_payment_of_order[dispute_orders],
            "order_id": order_ids[dispute_orders],
            "amount_cents": order_total[dispute_orders],
            "currency": pa.array(o_currency[dispute_orders], pa.string()),
            "reason": pa.array(
                DISPUTE_REASONS[rng.integers(0, len(DISPUTE_REASONS), len(dispute_orders))],
                pa.string(),
            ),
            "status": pa.array(
                DISPUTE_STATUSES[rng.integers(0, len(DISPUTE_STATUSES), len(dispute_orders))],
                pa.string(),
            ),
            "created_at": _timestamps(dispute_created),
            "updated_at": _timestamps(_later(rng, dispute_created, 15 * _SECONDS_PER_DAY)),
        }
    )
    return tables


def _sorted_by(keys: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sort `keys` (stably) and carry the other arrays along."""
    order = np.argsort(keys, kind="stable")
    return (keys[order], *(o[order] for o in others))


def order_dates(shop: dict[str, pa.Table]) -> np.ndarray:
    """Seconds since the period start of each order, for datasets keyed on orders."""
    micros = shop["orders"]["created_at"].cast(pa.int64()).to_numpy()
    return micros // 1_000_000 - _START_SECONDS


__all__ = ["PERIOD_DAYS", "PERIOD_START", "generate_shop", "order_dates"]
