"""The generated year looks like a real marketplace: each distribution docs/datagen.md states
is within its band at the demo scale, for the seeds the demo and the tests use."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from datagen import clickstream
from datagen.changes import RECENT_DAYS, apply_changes
from datagen.fx import BASE_CURRENCY, START_RATES
from datagen.generate import GenerationRequest, generate
from datagen.marketplace import COUNTRIES, COUNTRY_WEIGHTS, REGIONS, generate_shop
from datagen.oltp import connect
from datagen.seasonality import PROMOTION_DAYS
from datagen.volumes import PERIOD_DAYS, PERIOD_START, Volumes

DEMO_SCALE = 0.01  # `lakehouse demo`'s default (orchestration/settings.py)
SEEDS = [42, 7, 11]  # the demo's default seed, and those of the BI and pipeline tests
PROMOTION_DAY_NUMBERS = sorted((day - PERIOD_START.date()).days for day in PROMOTION_DAYS)
# merchant_risk's default thresholds (medium, high): dbt_project/models/marts/risk
RISK_THRESHOLDS = {
    "refund_rate": (0.08, 0.12),
    "dispute_rate": (0.02, 0.04),
    "payment_failure_rate": (0.12, 0.20),
}


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def shop(request) -> dict[str, pa.Table]:
    return generate_shop(Volumes.for_scale(DEMO_SCALE), request.param)


def day_numbers(timestamps: pa.ChunkedArray) -> np.ndarray:
    """Days since the period start of UTC timestamps."""
    micros = timestamps.cast(pa.int64()).to_numpy()
    return (micros // 1_000_000 - int(PERIOD_START.timestamp())) // 86_400


def orders_per_day(orders: pa.Table) -> np.ndarray:
    return np.bincount(day_numbers(orders["created_at"]), minlength=PERIOD_DAYS)


def spikes(daily: np.ndarray, factor: float) -> list[int]:
    """Days with more than `factor` times the median of the two weeks around them."""
    found = []
    for day, count in enumerate(daily):
        around = np.r_[daily[max(0, day - 7) : day], daily[day + 1 : day + 8]]
        if count > factor * np.median(around):
            found.append(day)
    return found


def ordinary_days(n_days: int) -> np.ndarray:
    mask = np.ones(n_days, bool)
    mask[PROMOTION_DAY_NUMBERS] = False
    return mask


def test_weekends_are_busier_than_weekdays(shop):
    daily = orders_per_day(shop["orders"])
    weekday = (PERIOD_START.weekday() + np.arange(PERIOD_DAYS)) % 7
    ordinary = ordinary_days(PERIOD_DAYS)
    weekend = daily[ordinary & (weekday >= 5)].mean()
    working = daily[ordinary & (weekday < 5)].mean()
    assert 1.10 <= weekend / working <= 1.35, (weekend, working)


def test_volume_grows_over_the_year(shop):
    daily = orders_per_day(shop["orders"]).astype(float)
    daily[PROMOTION_DAY_NUMBERS] = np.nan
    first, last = np.nanmean(daily[:56]), np.nanmean(daily[-56:])
    assert 1.4 <= last / first <= 1.95, (first, last)


def test_promotion_days_spike_and_no_other_day_does(shop):
    daily = orders_per_day(shop["orders"])
    # at the demo scale a day has 20 to 50 orders: noise alone reaches 2x a local median
    assert set(PROMOTION_DAY_NUMBERS) <= set(spikes(daily, 2.0))
    assert [d for d in spikes(daily, 2.5) if d not in PROMOTION_DAY_NUMBERS] == []
    assert daily[-1] < 2 * np.median(daily[-15:-1])  # the last day is an ordinary one


def test_most_customers_buy_once_and_a_loyal_minority_often(shop):
    orders = shop["orders"].filter(pc.not_equal(shop["orders"]["status"], "cancelled"))
    per_customer = np.bincount(orders["customer_id"].to_numpy())
    buyers = per_customer[per_customer > 0]
    repeat_rate = (buyers > 1).mean()
    assert 0.20 <= repeat_rate <= 0.45, repeat_rate
    # every customer has ordered (the account opens at the first checkout)
    everyone = np.bincount(shop["orders"]["customer_id"].to_numpy())[1:]
    assert len(everyone) == shop["customers"].num_rows and (everyone > 0).all()
    # the long tail: the top tenth of customers place over a third of the orders
    top_tenth = np.sort(buyers)[::-1][: len(buyers) // 10]
    assert top_tenth.sum() / buyers.sum() >= 0.35
    assert buyers.max() >= 20


def test_customers_sign_up_before_their_first_order(shop):
    orders = shop["orders"]
    first = np.full(shop["customers"].num_rows + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, orders["customer_id"].to_numpy(), orders["created_at"].cast(pa.int64()))
    signed_up = shop["customers"]["created_at"].cast(pa.int64()).to_numpy()
    assert (signed_up <= first[1:]).all()
    assert (first[1:] - signed_up <= 14 * 86_400 * 1_000_000).all()


def test_basket_sizes(shop):
    items = shop["order_items"]
    lines = np.bincount(items["order_id"].to_numpy())[1:]
    units = np.bincount(items["order_id"].to_numpy(), weights=items["quantity"].to_numpy())[1:]
    assert 1.5 <= lines.mean() <= 2.1
    assert 0.45 <= (lines == 1).mean() <= 0.65
    assert 1.8 <= units.mean() <= 2.8
    # order values in US dollars, at each currency's usual rate
    orders = shop["orders"]
    per_usd = {BASE_CURRENCY: 1.0, **START_RATES}
    rate = np.array([per_usd[c] for c in orders["currency"].to_pylist()])
    usd = orders["order_total_cents"].to_numpy() / 100 / rate
    assert 35 <= np.median(usd) <= 90 and 60 <= usd.mean() <= 140, (np.median(usd), usd.mean())


def rates(shop: dict[str, pa.Table]) -> dict[str, float]:
    orders, payments = shop["orders"], shop["payments"]
    not_cancelled = pc.sum(pc.not_equal(orders["status"], "cancelled")).as_py()
    refunds = shop["refunds"]
    order_total = orders["order_total_cents"].to_numpy()[refunds["order_id"].to_numpy() - 1]
    return {
        "cancellation": pc.mean(pc.equal(orders["status"], "cancelled").cast(pa.int8())).as_py(),
        "refund": refunds.num_rows / not_cancelled,
        "partial_refund": float((refunds["amount_cents"].to_numpy() < order_total).mean()),
        "dispute": shop["disputes"].num_rows / not_cancelled,
        "payment_failure": pc.mean(pc.equal(payments["status"], "failed").cast(pa.int8())).as_py(),
    }


def test_cancellation_refund_dispute_and_payment_failure_rates(shop):
    found = rates(shop)
    bands = {
        "cancellation": (0.02, 0.045),
        "refund": (0.035, 0.075),
        "partial_refund": (0.2, 0.4),
        "dispute": (0.002, 0.012),
        "payment_failure": (0.05, 0.11),
    }
    outside = {k: v for k, v in found.items() if not bands[k][0] <= v <= bands[k][1]}
    assert outside == {}, (outside, bands)


def merchant_tiers(shop: dict[str, pa.Table]) -> list[str]:
    """Each merchant's tier by merchant_risk's default thresholds."""
    orders, payments = shop["orders"], shop["payments"]
    n_m = shop["merchants"].num_rows
    merchant = orders["merchant_id"].to_numpy()

    def per_merchant(table: pa.Table, where=None) -> np.ndarray:
        of_row = merchant[table["order_id"].to_numpy() - 1]
        return np.bincount(of_row, weights=where, minlength=n_m + 1)[1:]

    paid = per_merchant(orders, pc.not_equal(orders["status"], "cancelled"))
    signals = {
        "refund_rate": per_merchant(shop["refunds"]) / paid,
        "dispute_rate": per_merchant(shop["disputes"]) / paid,
        "payment_failure_rate": per_merchant(payments, pc.equal(payments["status"], "failed"))
        / per_merchant(payments),
    }
    levels = np.zeros(n_m, np.int64)
    for name, (medium, high) in RISK_THRESHOLDS.items():
        levels = np.maximum(levels, (signals[name] >= medium) * 1 + (signals[name] >= high))
    return [["low", "medium", "high"][level] for level in levels]


def test_merchant_risk_spreads_over_every_tier_with_most_merchants_low(shop):
    tiers = merchant_tiers(shop)
    counts = {tier: tiers.count(tier) for tier in ("low", "medium", "high")}
    assert all(counts.values()), counts
    assert counts["low"] >= 0.6 * len(tiers), counts


def test_merchant_sales_have_a_long_tail(shop):
    per_merchant = np.sort(np.bincount(shop["orders"]["merchant_id"].to_numpy())[1:])[::-1]
    assert per_merchant[0] >= 3 * np.median(per_merchant)
    assert per_merchant[-1] > 0  # every merchant sells


def test_every_country_belongs_to_exactly_one_region(shop):
    listed = [country for countries in REGIONS.values() for country in countries]
    assert len(listed) == len(set(listed)) and set(listed) == set(COUNTRIES.tolist())
    assert np.isclose(COUNTRY_WEIGHTS.sum(), 1.0)
    for table in ("customers", "merchants"):
        assert set(shop[table]["country_code"].to_pylist()) <= set(listed), table
    customer_regions = {
        region
        for region, countries in REGIONS.items()
        for country in set(shop["customers"]["country_code"].to_pylist())
        if country in countries
    }
    assert customer_regions == set(REGIONS)
    events = clickstream.generate_events(30_000, 4_000, 200, COUNTRIES, 3, COUNTRY_WEIGHTS)
    assert set(events["country_code"].to_pylist()) <= set(listed)


def test_clickstream_follows_the_demand_curve():
    events = clickstream.generate_events(300_000, 4_000, 200, COUNTRIES, 3, COUNTRY_WEIGHTS)
    daily = np.bincount(day_numbers(events["occurred_at"]), minlength=PERIOD_DAYS)
    assert len(daily) == PERIOD_DAYS  # nothing after the period
    assert daily[-56:].mean() / daily[:56].mean() >= 1.4
    assert set(PROMOTION_DAY_NUMBERS) <= set(spikes(daily, 1.5))


def test_the_change_set_spreads_new_orders_over_recent_days(tmp_path):
    dsn = f"sqlite:///{tmp_path}/shop.db"
    generate(GenerationRequest(DEMO_SCALE, 42, dsn, str(tmp_path / "landing")))
    changes = apply_changes(dsn, 0.01, seed=42)
    assert changes.inserted > 0 and changes.updated > 0 and changes.deleted > 0, changes
    with connect(dsn) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT order_id, created_at FROM orders ORDER BY order_id")
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT o.created_at, i.created_at, p.created_at FROM orders o "
            "JOIN order_items i ON i.order_id = o.order_id "
            "JOIN payments p ON p.order_id = o.order_id "
            f"WHERE o.order_id > {Volumes.for_scale(DEMO_SCALE).orders}"
        )
        dated_with_their_order = {a == b == c for a, b, c in cursor.fetchall()}
        cursor.close()
    assert dated_with_their_order == {True}
    generated = Volumes.for_scale(DEMO_SCALE).orders
    days = np.array([(datetime.fromisoformat(t) - PERIOD_START.replace(tzinfo=None)).days
                     for _, t in rows])  # fmt: skip
    new = days[np.array([order_id > generated for order_id, _ in rows])]
    assert len(new) == changes.inserted
    # inside the period (the FX rates cover it), over the last RECENT_DAYS days, evenly
    assert new.min() >= PERIOD_DAYS - RECENT_DAYS - 1 and new.max() < PERIOD_DAYS
    per_day = np.bincount(new - new.min())
    assert len(np.unique(new)) >= RECENT_DAYS - 1 and per_day.max() <= 0.15 * len(new)
    # and the daily series has no spike at its end
    daily = np.bincount(days, minlength=PERIOD_DAYS)
    assert [d for d in spikes(daily, 2.5) if d not in PROMOTION_DAY_NUMBERS] == []
