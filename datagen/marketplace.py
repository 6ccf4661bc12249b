"""The shop's OLTP tables, generated column-wise with numpy (no per-row Python).

Amounts are integers in minor units (cents), as payment systems store them, so sums
reconcile exactly from the source to the marts. Timestamps are UTC. Ids follow creation
time, as a database's sequences do. What the data aims for (seasonality, repeat buyers,
basket sizes, rates, merchant risk, regions) is stated in docs/datagen.md.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datagen.buyers import orders_per_customer
from datagen.fx import BASE_CURRENCY, START_RATES
from datagen.merchant_risk import draw_merchants
from datagen.seasonality import PERIOD_SECONDS, SECONDS_PER_DAY, random_moments
from datagen.volumes import PERIOD_DAYS, PERIOD_START, Volumes

# each country belongs to one region; weights are the share of customers (and merchants)
REGIONS: dict[str, dict[str, float]] = {
    "North America": {"US": 0.30, "CA": 0.07},
    "Europe": {"GB": 0.12, "DE": 0.12, "FR": 0.09, "ES": 0.06, "IT": 0.06, "NL": 0.05,
               "IE": 0.05},
    "Latin America": {"BR": 0.08},
}  # fmt: skip
REGION_OF_COUNTRY = {c: region for region, countries in REGIONS.items() for c in countries}
COUNTRIES = np.array(list(REGION_OF_COUNTRY))
COUNTRY_WEIGHTS = np.array([w for countries in REGIONS.values() for w in countries.values()])
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
ORDER_STATUSES = ["delivered", "shipped", "refunded", "cancelled"]
PAYMENT_STATUSES = ["succeeded", "failed"]
DISPUTE_STATUSES = ["open", "won", "lost"]

# basket: lines per order (1..6) and units per line (1..4)
LINES_PER_ORDER_P = np.array([0.55, 0.25, 0.11, 0.05, 0.025, 0.015])
UNITS_PER_LINE_P = np.array([0.80, 0.14, 0.04, 0.02])
# list prices: lognormal in US dollars, converted at the currency's usual rate
PRICE_USD_LOG_MEAN, PRICE_USD_LOG_SIGMA = 3.3, 0.9
CANCELLED_RATE = 0.03
PARTIAL_REFUND_SHARE = 0.3
DELIVERED_SHARE = 0.85  # of orders neither cancelled nor refunded; the others are in transit
# disputes settle within weeks: older ones are won or lost, recent ones still open
DISPUTE_OPEN_DAYS = 21
DISPUTE_WON_SHARE = 0.35
SIGNUP_BEFORE_FIRST_ORDER_MAX_DAYS = 14

_START_SECONDS = int(PERIOD_START.timestamp())


def _timestamps(seconds_since_start: np.ndarray) -> pa.Array:
    """Seconds since the period start -> Arrow timestamp[us, UTC]."""
    micros = (np.asarray(seconds_since_start, dtype=np.int64) + _START_SECONDS) * 1_000_000
    return pa.array(micros, type=pa.timestamp("us", tz="UTC"))


def _later(rng: np.random.Generator, base: np.ndarray, max_seconds: int) -> np.ndarray:
    """A moment up to `max_seconds` after `base`, within the period (drawn in the room left,
    not clamped, so nothing piles up on the period's last second)."""
    room = np.clip(PERIOD_SECONDS - 1 - base, 0, max_seconds)
    return base + (rng.random(len(base)) * room).astype(np.int64)


def _ids(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=np.int64)


def _named(prefix: str, ids: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pa.array(ids).cast(pa.string()), "")


def _decoded(values: np.ndarray | list[str], codes: np.ndarray) -> pa.Array:
    """values[codes] as an Arrow string array, built from a dictionary (numpy strings would be
    built element by element)."""
    indices = pa.array(np.asarray(codes, dtype=np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array(values, pa.string())).cast(pa.string())


def _pick(values: np.ndarray, rng: np.random.Generator, n: int, p=None) -> pa.Array:
    """`n` draws from `values` (with probabilities `p`, else uniform) as Arrow strings."""
    codes = rng.choice(len(values), n, p=p) if p is not None else rng.integers(0, len(values), n)
    return _decoded(values, codes)


def generate_shop(volumes: Volumes, seed: int) -> dict[str, pa.Table]:
    """Generate every OLTP table of the marketplace for the given volumes and seed."""
    rng = np.random.default_rng(seed)
    tables: dict[str, pa.Table] = {}
    n_c, n_m, n_p, n_o = volumes.customers, volumes.merchants, volumes.products, volumes.orders

    # orders: moments drawn from the demand curve, ids in time order; each customer's share
    # from its purchase frequency, each merchant's from its size
    o_created = np.sort(random_moments(rng, n_o))
    slot_of_order = rng.permutation(np.repeat(np.arange(n_c), orders_per_customer(rng, n_c, n_o)))
    merchants = draw_merchants(rng, n_m)
    o_merchant = rng.choice(n_m, n_o, p=merchants.order_share) + 1

    # customers: signed up at most two weeks before their first order; ids in signup order
    _, first_order = np.unique(slot_of_order, return_index=True)  # orders are in time order
    first_ordered = o_created[first_order]
    gap = rng.random(n_c) * np.minimum(first_ordered, SIGNUP_BEFORE_FIRST_ORDER_MAX_DAYS * 86_400)
    signup_order = np.argsort(first_ordered - gap.astype(np.int64), kind="stable")
    c_created = (first_ordered - gap.astype(np.int64))[signup_order]
    id_of_slot = np.empty(n_c, np.int64)
    id_of_slot[signup_order] = _ids(n_c)
    o_customer = id_of_slot[slot_of_order]
    customer_ids = _ids(n_c)
    first = rng.integers(0, len(FIRST_NAMES), n_c)
    last = rng.integers(0, len(LAST_NAMES), n_c)
    emails = pc.binary_join_element_wise(
        _decoded(FIRST_NAMES, first), ".", _decoded(LAST_NAMES, last),
        pa.array(customer_ids).cast(pa.string()), "@example.com", "",
    )  # fmt: skip
    shouted = pa.array(rng.random(n_c) < 0.05)  # typed in capitals, as some users do
    emails = pc.if_else(shouted, pc.utf8_upper(emails), emails)
    tables["customers"] = pa.table(
        {
            "customer_id": customer_ids,
            "email": emails,
            "first_name": _decoded(np.char.capitalize(FIRST_NAMES), first),
            "last_name": _decoded(np.char.capitalize(LAST_NAMES), last),
            "country_code": _pick(COUNTRIES, rng, n_c, COUNTRY_WEIGHTS),
            "created_at": _timestamps(c_created),
            "updated_at": _timestamps(_later(rng, c_created, 30 * SECONDS_PER_DAY)),
        }
    )

    # merchants: each sells in its country's currency
    merchant_ids = _ids(n_m)
    m_country = rng.choice(COUNTRIES, n_m, p=COUNTRY_WEIGHTS)
    m_currency = np.array([CURRENCY_OF_COUNTRY[c] for c in m_country])
    m_created = rng.integers(0, PERIOD_SECONDS // 10, n_m)
    tables["merchants"] = pa.table(
        {
            "merchant_id": merchant_ids,
            "name": _named("Merchant ", merchant_ids),
            "country_code": pa.array(m_country, pa.string()),
            "currency": pa.array(m_currency, pa.string()),
            "category": _pick(CATEGORIES, rng, n_m),
            "created_at": _timestamps(m_created),
            "updated_at": _timestamps(_later(rng, m_created, 60 * SECONDS_PER_DAY)),
        }
    )

    # products: product p belongs to merchant ((p - 1) % n_m) + 1, so an order's items can be
    # drawn from its merchant's catalogue with arithmetic instead of a lookup
    product_ids = _ids(n_p)
    p_merchant = (product_ids - 1) % n_m + 1
    p_currency = m_currency[p_merchant - 1]
    usd_per_unit = np.array([{BASE_CURRENCY: 1.0, **START_RATES}[c] for c in p_currency])
    price_usd = np.exp(rng.normal(PRICE_USD_LOG_MEAN, PRICE_USD_LOG_SIGMA, n_p))
    p_price = (np.round(price_usd * usd_per_unit) * 100).astype(np.int64) + 99
    p_created = rng.integers(0, PERIOD_SECONDS // 5, n_p)
    tables["products"] = pa.table(
        {
            "product_id": product_ids,
            "merchant_id": p_merchant,
            "name": _named("Product ", product_ids),
            "category": _pick(CATEGORIES, rng, n_p),
            "price_cents": p_price,
            "currency": pa.array(p_currency, pa.string()),
            "created_at": _timestamps(p_created),
            "updated_at": _timestamps(_later(rng, p_created, 90 * SECONDS_PER_DAY)),
        }
    )

    # order items: products from the order's merchant
    n_lines = rng.choice(len(LINES_PER_ORDER_P), n_o, p=LINES_PER_ORDER_P) + 1
    item_order_idx = np.repeat(np.arange(n_o), n_lines)
    n_items = len(item_order_idx)
    item_product = o_merchant[item_order_idx] + n_m * rng.integers(0, n_p // n_m, n_items)
    item_qty = (rng.choice(len(UNITS_PER_LINE_P), n_items, p=UNITS_PER_LINE_P) + 1).astype(np.int64)
    item_price = p_price[item_product - 1]
    order_total = np.bincount(item_order_idx, weights=item_qty * item_price, minlength=n_o)
    order_total = order_total.astype(np.int64)

    # statuses: refunds need a day after the order inside the period
    risk_of_order = o_merchant - 1
    cancelled = rng.random(n_o) < CANCELLED_RATE
    refunded = (
        ~cancelled
        & (rng.random(n_o) < merchants.refund_rate[risk_of_order])
        & (o_created < PERIOD_SECONDS - 2 * SECONDS_PER_DAY)
    )
    delivered = rng.random(n_o) < DELIVERED_SHARE
    status = np.where(cancelled, 3, np.where(refunded, 2, np.where(delivered, 0, 1)))
    order_ids = _ids(n_o)
    tables["orders"] = pa.table(
        {
            "order_id": order_ids,
            "customer_id": o_customer,
            "merchant_id": o_merchant,
            "status": _decoded(ORDER_STATUSES, status),
            "currency": _decoded(m_currency, o_merchant - 1),
            "order_total_cents": order_total,
            "created_at": _timestamps(o_created),
            "updated_at": _timestamps(_later(rng, o_created, 10 * SECONDS_PER_DAY)),
        }
    )
    item_created = o_created[item_order_idx]
    tables["order_items"] = pa.table(
        {
            "order_item_id": _ids(n_items),
            "order_id": order_ids[item_order_idx],
            "product_id": item_product.astype(np.int64),
            "quantity": item_qty,
            "unit_price_cents": item_price,
            "created_at": _timestamps(item_created),
            "updated_at": _timestamps(item_created),
        }
    )

    # payments: a declined attempt for some orders, then one final attempt that succeeds
    # (or fails, for cancelled orders)
    has_failed_first = rng.random(n_o) < merchants.failed_attempt_rate[risk_of_order]
    attempt_order_idx = np.concatenate([np.flatnonzero(has_failed_first), np.arange(n_o)])
    is_final = np.concatenate([np.zeros(has_failed_first.sum(), bool), np.ones(n_o, bool)])
    order = np.argsort(attempt_order_idx, kind="stable")
    attempt_order_idx, is_final = attempt_order_idx[order], is_final[order]
    successful = is_final & ~cancelled[attempt_order_idx]
    pay_created = o_created[attempt_order_idx] + np.where(is_final, 120, 30)
    payment_ids = _ids(len(attempt_order_idx))
    tables["payments"] = pa.table(
        {
            "payment_id": payment_ids,
            "order_id": order_ids[attempt_order_idx],
            "method": _pick(PAYMENT_METHODS, rng, len(payment_ids), PAYMENT_METHOD_WEIGHTS),
            "status": _decoded(PAYMENT_STATUSES, ~successful),
            "amount_cents": order_total[attempt_order_idx],
            "currency": _decoded(m_currency, o_merchant[attempt_order_idx] - 1),
            "created_at": _timestamps(pay_created),
            "updated_at": _timestamps(pay_created + 5),
        }
    )

    # refunds: full or partial, against the successful payment of a refunded order
    final_payment_of_order = np.zeros(n_o, np.int64)
    final_payment_of_order[attempt_order_idx[successful]] = payment_ids[successful]
    refund_orders = np.flatnonzero(refunded)
    partial = rng.random(len(refund_orders)) < PARTIAL_REFUND_SHARE
    refund_amount = np.where(
        partial, order_total[refund_orders] // 2, order_total[refund_orders]
    ).astype(np.int64)
    refund_created = _later(rng, o_created[refund_orders] + SECONDS_PER_DAY, 20 * SECONDS_PER_DAY)
    tables["refunds"] = pa.table(
        {
            "refund_id": _ids(len(refund_orders)),
            "payment_id": final_payment_of_order[refund_orders],
            "order_id": order_ids[refund_orders],
            "amount_cents": refund_amount,
            "currency": _decoded(m_currency, o_merchant[refund_orders] - 1),
            "reason": _pick(REFUND_REASONS, rng, len(refund_orders)),
            "created_at": _timestamps(refund_created),
            "updated_at": _timestamps(refund_created + 60),
        }
    )

    # disputes: chargebacks on paid orders at the merchant's rate, filed 3 to 33 days later
    paid = ~cancelled & (o_created < PERIOD_SECONDS - 4 * SECONDS_PER_DAY)
    disputed = paid & (rng.random(n_o) < merchants.dispute_rate[risk_of_order])
    dispute_orders = np.flatnonzero(disputed)
    dispute_created = _later(
        rng, o_created[dispute_orders] + 3 * SECONDS_PER_DAY, 30 * SECONDS_PER_DAY
    )
    settled = dispute_created < PERIOD_SECONDS - DISPUTE_OPEN_DAYS * SECONDS_PER_DAY
    won = rng.random(len(dispute_orders)) < DISPUTE_WON_SHARE
    dispute_status = np.where(settled, np.where(won, 1, 2), 0)
    dispute_updated = np.where(
        settled, _later(rng, dispute_created, DISPUTE_OPEN_DAYS * SECONDS_PER_DAY), dispute_created
    )
    tables["disputes"] = pa.table(
        {
            "dispute_id": _ids(len(dispute_orders)),
            "payment_id": final_payment_of_order[dispute_orders],
            "order_id": order_ids[dispute_orders],
            "amount_cents": order_total[dispute_orders],
            "currency": _decoded(m_currency, o_merchant[dispute_orders] - 1),
            "reason": _pick(DISPUTE_REASONS, rng, len(dispute_orders)),
            "status": _decoded(DISPUTE_STATUSES, dispute_status),
            "created_at": _timestamps(dispute_created),
            "updated_at": _timestamps(dispute_updated),
        }
    )
    return tables


__all__ = ["COUNTRIES", "PERIOD_DAYS", "PERIOD_START", "REGIONS", "generate_shop"]
