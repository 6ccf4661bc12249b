"""The generated marketplace: deterministic, consistent, at the documented volumes."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from datagen import clickstream
from datagen.generate import GenerationRequest, already_generated, generate
from datagen.marketplace import COUNTRIES, generate_shop
from datagen.volumes import ORDERS_PER_SCALE, Volumes

SMALL = Volumes.for_scale(0.002)


def test_scale_one_is_a_million_orders():
    assert Volumes.for_scale(1).orders == ORDERS_PER_SCALE == 1_000_000
    assert Volumes.for_scale(0.01).orders == 10_000


@pytest.mark.parametrize("scale", [0, -1, float("nan")])
def test_scale_must_be_positive(scale):
    with pytest.raises(ValueError, match="scale must be a positive number"):
        Volumes.for_scale(scale)


def test_same_seed_same_data_other_seed_other_data():
    first, again, other = (generate_shop(SMALL, seed) for seed in (7, 7, 8))
    for name in first:
        assert first[name].equals(again[name]), name
    assert not first["orders"].equals(other["orders"])


def test_shop_tables_are_referentially_consistent():
    shop = generate_shop(SMALL, 42)
    orders, items, products = shop["orders"], shop["order_items"], shop["products"]
    assert orders.num_rows == SMALL.orders
    assert pc.max(orders["customer_id"]).as_py() <= SMALL.customers
    # every item's product belongs to the order's merchant
    merchant_of_product = products["merchant_id"].to_numpy()[items["product_id"].to_numpy() - 1]
    merchant_of_order = orders["merchant_id"].to_numpy()[items["order_id"].to_numpy() - 1]
    assert np.array_equal(merchant_of_product, merchant_of_order)
    # order totals are the sum of their items
    line_totals = items["quantity"].to_numpy() * items["unit_price_cents"].to_numpy()
    totals = np.bincount(items["order_id"].to_numpy(), weights=line_totals)[1:].astype(np.int64)
    assert np.array_equal(totals, orders["order_total_cents"].to_numpy())
    # each order that was not cancelled has exactly one successful payment of its total
    payments = shop["payments"].filter(pc.equal(shop["payments"]["status"], "succeeded"))
    not_cancelled = orders.filter(pc.not_equal(orders["status"], "cancelled"))
    assert payments.num_rows == not_cancelled.num_rows
    assert (
        pc.sum(payments["amount_cents"]).as_py()
        == pc.sum(not_cancelled["order_total_cents"]).as_py()
    )
    # refunds never exceed the order they refund
    refunds = shop["refunds"]
    refunded_totals = orders["order_total_cents"].to_numpy()[refunds["order_id"].to_numpy() - 1]
    assert (refunds["amount_cents"].to_numpy() <= refunded_totals).all()
    for table in shop.values():
        assert pc.all(pc.greater_equal(table["updated_at"], table["created_at"])).as_py()


def test_clickstream_drops_have_bots_test_traffic_and_malformed_lines(tmp_path):
    events = clickstream.generate_events(20_000, 500, 200, COUNTRIES, seed=3)
    paths = clickstream.write_daily_drops(events, tmp_path, seed=3)
    lines = [line for p in paths for line in p.read_text().splitlines()]
    assert len(lines) == events.num_rows
    bad = 0
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            bad += 1
    assert 0 < bad < len(lines) * 0.005  # about 0.1 %
    assert pc.sum(pc.match_substring(events["user_agent"], "bot")).as_py() > 0
    assert pc.sum(pc.equal(events["environment"], "test")).as_py() > 0
    assert events["occurred_at"].type == pa.timestamp("us", tz="UTC")


def test_generate_writes_sqlite_and_landing_and_marks_completion(tmp_path):
    request = GenerationRequest(
        0.002, 1, f"sqlite:///{tmp_path}/shop.db", str(tmp_path / "landing")
    )
    assert not already_generated(request)
    result = generate(request)
    assert already_generated(request)
    assert not already_generated(GenerationRequest(0.003, 1, request.oltp_dsn, request.landing_dir))
    import sqlite3

    with sqlite3.connect(tmp_path / "shop.db") as conn:
        count = conn.execute("select count(*) from orders").fetchone()[0]
    assert count == result.rows["orders"] == SMALL.orders
    assert result.files["clickstream"] > 300 and result.files["fx_rates"] == 12
