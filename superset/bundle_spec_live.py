"""The live sales dashboard: the sales events streamed from Kafka, per minute, refreshing
itself (docs/streaming.md). Registered at the end of `bundle_spec.py`.

It reads `live_sales_per_minute` (dbt_project/models/marts/streaming), which `make
demo-stream` rebuilds and publishes every few seconds; a lake that has never streamed
serves it empty. Money is in the sales' own currencies (integer cents in the mart; no FX
conversion): revenue is always split by currency, never summed across currencies.
"""

from __future__ import annotations

from dataclasses import dataclass

from bundle_spec import Chart, Dashboard, Dataset, NativeFilter

MART = "live_sales_per_minute"
REFRESH_SECONDS = 20  # the dashboard reloads its charts this often (<= 30 s)


@dataclass(frozen=True)
class LiveDashboard(Dashboard):
    refresh_frequency: int = REFRESH_SECONDS  # seconds; Superset's dashboard metadata


LIVE_DATASETS = (
    Dataset(
        MART,
        main_dttm="sale_minute_at",
        description=(
            "Sales per minute (UTC), buyer region, product and currency, streamed from "
            "Kafka (docs/streaming.md). Revenue adds up within one currency only."
        ),
        metrics={
            "sales": "SUM(sales_count)",
            "units": "SUM(units)",
            "revenue": "SUM(revenue)",
        },
    ),
)

LIVE_DASHBOARDS = (
    LiveDashboard(
        "Live sales",
        "live-sales",
        description=(
            "Sales streamed from Kafka, per minute, refreshed every "
            f"{REFRESH_SECONDS} s: revenue per currency, sales by region, top products."
        ),
        charts=(
            Chart("Live sales", MART, "big_number", ("sales",), width=3, number_format=",d"),
            Chart("Live units sold", MART, "big_number", ("units",), width=3, number_format=",d"),
            Chart(
                "Live revenue per minute",
                MART,
                "line",
                ("revenue",),
                "sale_minute_at",
                "PT1M",
                groupby=("currency_code",),
                width=6,
            ),
            Chart(
                "Live sales by region",
                MART,
                "bar_by",
                ("sales",),
                "region_code",
                order_by=(("sales", False),),
            ),
            # ranked by the database (GROUP BY, ORDER BY, LIMIT), by units: revenue in
            # different currencies cannot be ranked together. Names are unique across
            # the bundle (a chart's file and uuid come from its name)
            Chart(
                "Live top products",
                MART,
                "table",
                ("units", "sales", "revenue"),
                groupby=("product_id", "currency_code"),
                order_by=(("units", False),),
                row_limit=10,
            ),
        ),
        filters=(
            NativeFilter("Period", "time", MART, "sale_minute_at"),
            NativeFilter("Region", "select", MART, "region_code"),
            NativeFilter("Product", "select", MART, "product_id"),
        ),
    ),
)
