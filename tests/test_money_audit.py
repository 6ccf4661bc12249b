"""The money audit: every money mart a dashboard reads, recomputed from the source systems
(the shop's OLTP database and the FX provider's CSV files) in exact arithmetic, without
dbt, DuckDB or floating point, and compared with gold row by row, to the cent.

The demo runs twice on a local lake with the shop in SQLite: the second run applies a
change set (inserted, updated and hard-deleted orders) that the incremental syncs and the
incremental dbt models must carry through. The PostgreSQL target builds from the same
bronze before and after the change set, so its incremental models are audited too.

The rules recomputed here are those of docs/metrics.md, written out again in Python:
rate as of the order date (the latest earlier rate on a day without one), each amount
converted once and rounded half-up (away from zero), refunds rounded one by one, order
totals and refunds split over lines by largest remainder (ties to the lower
order_item_id), averages rounded once from exact cents, regions the buyer's country now.
The risk marts hold windowed features, not money totals: tests/test_risk_features.py
recomputes every one of them event by event.
"""

from __future__ import annotations

import csv
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import duckdb
import pytest

from tests.demo_runs import DEMO_AFTER_CHANGE_SET, DemoAfterChangeSet
from tests.test_dbt_postgres import pg

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(DEMO_AFTER_CHANGE_SET)]
REPORTING_CURRENCY = "USD"

Row = tuple
Mart = dict[tuple, Row]


# -- the sources, as the shop and the FX provider hold them ------------------------------------
@dataclass
class Sources:
    orders: list[dict]
    items: list[dict]
    payments: list[dict]
    refunds: list[dict]
    disputes: list[dict]
    customers: dict[int, dict]
    products: dict[int, dict]
    merchants: dict[int, dict]
    rates: dict[str, list[tuple[date, Fraction]]]  # currency -> (day, units per USD), sorted


def read_sources(shop_db: Path, fx_folder: Path) -> Sources:
    with sqlite3.connect(shop_db) as conn:
        conn.row_factory = sqlite3.Row

        def rows(table: str) -> list[dict]:
            return [dict(r) for r in conn.execute(f"select * from {table}")]

        tables = {t: rows(t) for t in ("orders", "order_items", "payments", "refunds")}
        disputes, customers = rows("disputes"), rows("customers")
        products, merchants = rows("products"), rows("merchants")
    rates: dict[str, dict[date, Fraction]] = defaultdict(dict)
    files = sorted(fx_folder.glob("*.csv"))
    assert files, f"no FX files in {fx_folder}"
    for path in files:
        with path.open(newline="") as f:
            for rate in csv.DictReader(f):
                assert rate["base_currency"] == REPORTING_CURRENCY, (path, rate)
                # the provider's digits, exactly: Fraction parses the decimal text
                rates[rate["quote_currency"].strip().upper()][
                    date.fromisoformat(rate["rate_date"])
                ] = Fraction(rate["rate"])
    return Sources(
        orders=tables["orders"],
        items=tables["order_items"],
        payments=tables["payments"],
        refunds=tables["refunds"],
        disputes=disputes,
        customers={c["customer_id"]: c for c in customers},
        products={p["product_id"]: p for p in products},
        merchants={m["merchant_id"]: m for m in merchants},
        rates={c: sorted(days.items()) for c, days in rates.items()},
    )


# -- the rules, independently of the dbt project ------------------------------------------------
def utc_date(text: str) -> date:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def round_half_up(value: Fraction) -> int:
    """To the nearest integer, exact halves away from zero."""
    magnitude = abs(value)
    rounded = int(magnitude + Fraction(1, 2))  # floor, magnitude >= 0
    return rounded if value >= 0 else -rounded


def cents(amount: int) -> Decimal:
    return Decimal(amount).scaleb(-2)


def rate_as_of(sources: Sources, currency: str, day: date) -> Fraction:
    """Units of `currency` per 1 USD on `day`: that day's rate, or the latest before it."""
    if currency == REPORTING_CURRENCY:
        return Fraction(1)
    earlier = [rate for rate_day, rate in sources.rates.get(currency, []) if rate_day <= day]
    assert earlier, f"no {currency} rate on or before {day}"
    return earlier[-1]


def allocate(total: int, weights: list[int], tie_keys: list[int]) -> list[int]:
    """Largest remainder: floors of the exact quotas, the leftover cents one each to the
    largest remainders, ties to the lower key; equal weights when all are 0."""
    if sum(weights) == 0:
        weights = [1] * len(weights)
    quotas = [Fraction(total * w, sum(weights)) for w in weights]
    shares = [int(q) for q in quotas]
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - shares[i]), tie_keys[i]))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    assert sum(shares) == total
    return shares


def expected_marts(src: Sources) -> dict[str, Mart]:
    customers_country = {cid: c["country_code"].strip().upper() for cid, c in src.customers.items()}
    items_of: dict[int, list[dict]] = defaultdict(list)
    for item in src.items:
        items_of[item["order_id"]].append(item)
    payments_of: dict[int, list[dict]] = defaultdict(list)
    for payment in src.payments:
        payments_of[payment["order_id"]].append(payment)
    refunds_of: dict[int, list[dict]] = defaultdict(list)
    for refund in src.refunds:
        refunds_of[refund["order_id"]].append(refund)

    fct_orders, fct_items, fct_payments, fct_refunds = {}, {}, {}, {}
    order_facts = {}
    for order in src.orders:
        oid, day = order["order_id"], utc_date(order["created_at"])
        currency = order["currency"].strip().upper()
        rate = rate_as_of(src, currency, day)
        status = order["status"].strip().lower()
        gross = round_half_up(Fraction(order["order_total_cents"]) / rate)
        refund_cents = {}
        for refund in refunds_of[oid]:
            refund_cents[refund["refund_id"]] = round_half_up(
                Fraction(refund["amount_cents"]) / rate
            )
            fct_refunds[(refund["refund_id"],)] = (
                oid,
                refund["amount_cents"],
                cents(refund_cents[refund["refund_id"]]),
            )
        refunded = sum(refund_cents.values())
        paid = sum(
            p["amount_cents"]
            for p in payments_of[oid]
            if p["status"].strip().lower() == "succeeded"
        )
        for payment in payments_of[oid]:
            fct_payments[(payment["payment_id"],)] = (
                oid,
                payment["amount_cents"],
                cents(round_half_up(Fraction(payment["amount_cents"]) / rate)),
            )
        lines = sorted(items_of[oid], key=lambda i: i["order_item_id"])
        weights = [i["quantity"] * i["unit_price_cents"] for i in lines]
        keys = [i["order_item_id"] for i in lines]
        if lines:
            line_gross = allocate(gross, weights, keys)
            line_refunded = allocate(refunded, weights, keys)
            for item, weight, g, r in zip(lines, weights, line_gross, line_refunded, strict=True):
                fct_items[(item["order_item_id"],)] = (
                    oid,
                    weight,
                    cents(g),
                    cents(r),
                    cents(g - r),
                )
        country = customers_country.get(order["customer_id"])
        fct_orders[(oid,)] = (
            order["customer_id"],
            order["merchant_id"],
            country,
            status,
            currency,
            day,
            order["order_total_cents"],
            Decimal(rate.numerator) / Decimal(rate.denominator),
            cents(gross),
            paid,
            len(lines),
            sum(i["quantity"] for i in lines),
            len(refunds_of[oid]),
            sum(r["amount_cents"] for r in refunds_of[oid]),
            cents(refunded),
            cents(gross - refunded),
        )
        order_facts[oid] = {
            "day": day,
            "country": country,
            "status": status,
            "customer": order["customer_id"],
            "gross": gross,
            "refunded": refunded,
            "lines": [(item, line_gross[n], line_refunded[n]) for n, item in enumerate(lines)]
            if lines
            else [],
            "ordered_at": order["created_at"],
        }

    # daily_orders, daily_revenue, sales_by_region_product: orders not cancelled
    daily_orders: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, 0])
    daily_revenue: dict[tuple, list] = defaultdict(lambda: [set(), 0, 0, 0])
    sales: dict[tuple, list] = defaultdict(lambda: [set(), 0, 0, 0])
    for oid, fact in order_facts.items():
        if fact["status"] == "cancelled":
            continue
        units = sum(item["quantity"] for item, _, _ in fact["lines"])
        for n, value in enumerate((1, units, fact["gross"], fact["refunded"])):
            daily_orders[(fact["day"], fact["country"])][n] += value
        lines = fact["lines"] or [(None, fact["gross"], fact["refunded"])]
        for item, line_gross, line_refunded in lines:
            category = (
                src.products[item["product_id"]]["category"].strip().lower() if item else "unknown"
            )
            row = daily_revenue[(fact["day"], fact["country"], category)]
            row[0].add(oid)
            row[1] += item["quantity"] if item else 0
            row[2] += line_gross
            row[3] += line_refunded
            if item:
                row = sales[(item["product_id"], fact["country"])]
                row[0].add(oid)
                row[1] += item["quantity"]
                row[2] += line_gross
                row[3] += line_refunded

    # customer_lifetime_value: every customer, orders not cancelled
    per_customer: dict[int, list] = {cid: [0, 0, 0] for cid in src.customers}
    for fact in order_facts.values():
        if fact["status"] != "cancelled" and fact["customer"] in per_customer:
            row = per_customer[fact["customer"]]
            row[0] += 1
            row[1] += fact["gross"]
            row[2] += fact["refunded"]

    return {
        "fct_orders": fct_orders,
        "fct_order_items": fct_items,
        "fct_payments": fct_payments,
        "fct_refunds": fct_refunds,
        "daily_orders": {
            key: (n, units, cents(g), cents(r), cents(g - r))
            for key, (n, units, g, r) in daily_orders.items()
        },
        "daily_revenue": {
            key: (len(ids), units, cents(g), cents(r), cents(g - r))
            for key, (ids, units, g, r) in daily_revenue.items()
        },
        "sales_by_region_product": {
            key: (len(ids), units, cents(g), cents(r), cents(g - r))
            for key, (ids, units, g, r) in sales.items()
        },
        "customer_lifetime_value": {
            (cid,): (
                n,
                cents(g),
                cents(g - r),
                cents(round_half_up(Fraction(g, n))) if n else None,
                n > 1,
            )
            for cid, (n, g, r) in per_customer.items()
        },
    }


# -- gold, as the dashboards read it -----------------------------------------------------------
# mart -> (key columns, value columns), in the order expected_marts() builds them
COLUMNS = {
    "fct_orders": (
        ["order_id"],
        [
            "customer_id", "merchant_id", "customer_country_code", "order_status",
            "currency_code", "order_date", "order_total_cents", "fx_units_per_reporting",
            "order_total_reporting", "paid_cents", "item_count", "units", "refund_count",
            "refunded_cents", "refunded_reporting", "net_total_reporting",
        ],
    ),
    "fct_order_items": (
        ["order_item_id"],
        ["order_id", "line_total_cents", "line_total_reporting", "line_refunded_reporting",
         "line_net_reporting"],
    ),
    "fct_payments": (["payment_id"], ["order_id", "amount_cents", "amount_reporting"]),
    "fct_refunds": (["refund_id"], ["order_id", "amount_cents", "amount_reporting"]),
    "daily_orders": (
        ["order_date", "country_code"],
        ["order_count", "units", "gross_revenue_reporting", "refunded_reporting",
         "net_revenue_reporting"],
    ),
    "daily_revenue": (
        ["order_date", "country_code", "product_category"],
        ["orders_with_category_count", "units", "gross_revenue_reporting",
         "refunded_reporting", "net_revenue_reporting"],
    ),
    "sales_by_region_product": (
        ["product_id", "country_code"],
        ["orders_with_product_count", "units", "gross_revenue_reporting",
         "refunded_reporting", "net_revenue_reporting"],
    ),
    "customer_lifetime_value": (
        ["customer_id"],
        ["order_count", "lifetime_revenue_reporting", "lifetime_net_revenue_reporting",
         "average_order_value_reporting", "is_repeat_customer"],
    ),
}  # fmt: skip


def read_gold(
    query: Callable[[str], list[tuple]], relation: Callable[[str], str]
) -> dict[str, Mart]:
    gold = {}
    for mart, (keys, values) in COLUMNS.items():
        rows = query(f"select {', '.join(keys + values)} from {relation(mart)}")
        table = {tuple(row[: len(keys)]): tuple(row[len(keys) :]) for row in rows}
        assert len(table) == len(rows), f"{mart}: duplicate keys"
        gold[mart] = table
    return gold


def gold_on_duckdb(runs: AuditedRuns) -> dict[str, Mart]:
    """Gold as the DuckLake holds it: decimals come back as Python Decimals, never doubles."""
    con = runs.gold()
    try:
        return read_gold(lambda sql: con.execute(sql).fetchall(), lambda mart: mart)
    finally:
        con.close()


def gold_on_postgres(dsn: str) -> dict[str, Mart]:
    return read_gold(lambda sql: pg(dsn, sql), lambda mart: f"marts.{mart}")


def assert_equal_to_the_cent(gold: dict[str, Mart], expected: dict[str, Mart], target: str) -> None:
    report = []
    for mart, rows in expected.items():
        found = gold[mart]
        missing, extra = rows.keys() - found.keys(), found.keys() - rows.keys()
        differ = [(key, rows[key], found[key]) for key in rows.keys() & found.keys()
                  if rows[key] != found[key]]  # fmt: skip
        if missing or extra or differ:
            report.append(
                f"{target} {mart}: {len(missing)} rows missing {sorted(missing)[:3]}, "
                f"{len(extra)} extra {sorted(extra)[:3]}, {len(differ)} differ "
                f"(key, expected, gold) {sorted(differ)[:3]}"
            )
    assert report == [], "\n".join(report)


# -- the runs: two demos (the second applies a change set), PostgreSQL built after each ----------
@dataclass
class AuditedRuns:
    root: Path
    changes: str
    postgres_dsn: str
    gold: Callable[[], duckdb.DuckDBPyConnection]

    @property
    def sources(self) -> Sources:
        return read_sources(self.root / "shop.db", self.root / "landing" / "fx_rates")


@pytest.fixture(scope="module")
def audited_runs(demo_after_change_set: DemoAfterChangeSet) -> AuditedRuns:
    runs = demo_after_change_set
    return AuditedRuns(runs.root, runs.changes, runs.postgres_dsn, runs.gold)


def test_the_change_set_inserted_updated_and_deleted_orders(audited_runs):
    inserted, updated, deleted = (
        int(part.split()[0].replace(",", "")) for part in audited_runs.changes.split(", ")
    )
    assert inserted > 0 and updated > 0 and deleted > 0, audited_runs.changes


def test_gold_on_duckdb_equals_the_sources_to_the_cent(audited_runs):
    expected = expected_marts(audited_runs.sources)
    assert len(expected["fct_orders"]) > 1_000 and len(expected["fct_refunds"]) > 10
    assert_equal_to_the_cent(gold_on_duckdb(audited_runs), expected, "duckdb")


def test_gold_on_postgres_equals_the_sources_to_the_cent(audited_runs):
    expected = expected_marts(audited_runs.sources)
    assert_equal_to_the_cent(gold_on_postgres(audited_runs.postgres_dsn), expected, "postgres")


def test_the_audit_sees_a_cent(audited_runs):
    """The comparison is sharp: one cent off in one line of one order is reported."""
    expected = expected_marts(audited_runs.sources)
    gold = gold_on_duckdb(audited_runs)
    key, row = next(iter(sorted(gold["fct_order_items"].items())))
    gold["fct_order_items"][key] = (*row[:2], row[2] + Decimal("0.01"), *row[3:])
    with pytest.raises(AssertionError, match=r"fct_order_items: 0 rows missing .* 1 differ"):
        assert_equal_to_the_cent(gold, expected, "duckdb")


def test_orders_add_up_once_and_the_per_category_count_does_not(audited_runs):
    """daily_orders counts each order once: its sum is the orders placed. daily_revenue's
    per-category count is not a count of orders (an order spans categories), which is why
    it is named for what it counts and no dashboard sums it."""
    placed = sum(
        1 for o in audited_runs.sources.orders if o["status"].strip().lower() != "cancelled"
    )
    gold = gold_on_duckdb(audited_runs)
    assert sum(row[0] for row in gold["daily_orders"].values()) == placed
    assert sum(row[0] for row in gold["daily_revenue"].values()) > placed
