"""What a business user sees in gold is plausible: after the demo at its default scale and
seed, run twice (the second run applies a change set, as every demo run after the first
does), the marts show the generated year's shape (docs/datagen.md): a repeat rate of a real
marketplace, daily orders that spike only on promotion days, merchants in several risk tiers.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import numpy as np
import pytest
import yaml

from datagen.volumes import PERIOD_DAYS, PERIOD_START
from orchestration.settings import REPO_ROOT
from tests.demo_runs import DEMO_AFTER_CHANGE_SET, DemoAfterChangeSet
from tests.test_datagen_distributions import PROMOTION_DAY_NUMBERS, spikes

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(DEMO_AFTER_CHANGE_SET)]
REPEAT_RATE_DATASET = (
    REPO_ROOT / "superset" / "bundles" / "datasets" / "lakehouse_serving"
    / "customer_lifetime_value.yaml"
)  # fmt: skip


@pytest.fixture(scope="module")
def gold(demo_after_change_set: DemoAfterChangeSet) -> Iterator[duckdb.DuckDBPyConnection]:
    con = demo_after_change_set.gold()
    yield con
    con.close()


def query(gold: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return gold.execute(sql).fetchall()


def test_the_repeat_rate_chart_shows_a_real_marketplace_rate(gold):
    metrics = yaml.safe_load(REPEAT_RATE_DATASET.read_text())["metrics"]
    expression = next(m["expression"] for m in metrics if m["metric_name"] == "repeat_rate")
    [(rate,)] = query(gold, f"select {expression} from customer_lifetime_value")
    assert 0.20 <= rate <= 0.45, rate


def test_daily_orders_spike_on_promotion_days_only(gold):
    rows = query(
        gold,
        f"select date_diff('day', date '{PERIOD_START.date()}', order_date), count(*) "
        "from fct_orders where not is_cancelled group by order_date",
    )
    daily = np.zeros(PERIOD_DAYS, np.int64)
    assert all(0 <= day < PERIOD_DAYS for day, _ in rows), "orders outside the period"
    for day, count in rows:
        daily[day] = count
    assert (daily > 0).all()
    assert set(PROMOTION_DAY_NUMBERS) <= set(spikes(daily, 2.0))
    assert [d for d in spikes(daily, 2.5) if d not in PROMOTION_DAY_NUMBERS] == []
    assert daily[-1] < 2 * np.median(daily[-15:-1]), daily[-15:]


def test_refund_and_dispute_rates_are_realistic(gold):
    # disputes reach gold only as risk features: merchant_risk's 30-day window against the
    # orders of the last 30 days
    [(refund, dispute)] = query(
        gold,
        "select (select count(distinct order_id) from fct_refunds) / count(*), "
        "(select sum(dispute_count_30d) from merchant_risk) / count(*) filter ("
        "where order_date > (select max(order_date) from fct_orders) - 30) "
        "from fct_orders where not is_cancelled",
    )
    assert 0.035 <= refund <= 0.075 and 0.002 <= dispute <= 0.012, (refund, dispute)


def test_merchants_at_risk_are_a_minority_in_every_tier_for_their_rates(gold):
    """Medium and high merchants are there for their refund, dispute or payment-failure
    rates (not only for a burst of orders), and most merchants are low."""
    tiers = dict(
        query(
            gold,
            "select risk_tier, count(*) filter (where regexp_matches(risk_reasons, "
            "'(refund|dispute|payment_failure)_ratio')) from merchant_risk group by 1",
        )
    )
    assert tiers.keys() == {"low", "medium", "high"} and tiers["medium"] and tiers["high"], tiers
    [(low, merchants)] = query(
        gold, "select count(*) filter (where risk_tier = 'low'), count(*) from merchant_risk"
    )
    assert low > merchants / 2, (low, merchants)
