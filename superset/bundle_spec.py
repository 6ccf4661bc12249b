"""The dashboards, declared compactly: datasets with their saved metrics, and charts.

`generate_bundles.py` turns this into the YAML bundle under `superset/bundles/` (what the
bootstrap imports and what reviewers read), giving every chart form data and a saved query
context that agree. Edit here, regenerate, commit both.

Every dataset reads the serving catalog's `analytics` schema (the same name in server
mode's PostgreSQL), never the file dbt writes. Virtual datasets (`sql`) are plain SQL that
runs on DuckDB and on PostgreSQL: they add what a reader filters on (a buyer's region, a
payment's merchant) and compute top-N lists and period comparisons in the database, never
with a chart's row limit.

What a reader sees is spelled out here: every column and metric gets a human label with its
unit (LABELS, or the name made readable), money is in the reporting currency
(REPORTING_CURRENCY, dbt's `reporting_currency`), every chart and dashboard a one-line
description, and every row of a dashboard's grid is full (generate_bundles.py checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA = "analytics"
REPORTING_CURRENCY = "USD"  # dbt_project.yml `reporting_currency`; columns *_reporting
# The marketplace's regions (datagen/marketplace.py REGIONS; tests/test_superset.py checks
# they agree): gold knows countries, a reader filters by region too.
REGION_OF_COUNTRY = {
    "US": "North America",
    "CA": "North America",
    "GB": "Europe",
    "DE": "Europe",
    "FR": "Europe",
    "ES": "Europe",
    "IT": "Europe",
    "NL": "Europe",
    "IE": "Europe",
    "BR": "Latin America",
}
# Labels a name cannot give by itself (see `label`).
LABELS = {
    "country_code": "Country",
    "merchant_country_code": "Merchant country",
    "product_name": "Product",
    "merchant_name": "Merchant",
    "order_count": "Orders",
    "orders": "Orders",
    "units": "Units sold",
    "is_repeat_customer": "Repeat customer",
    "repeat_rate": "Repeat-purchase rate (%)",
    "risk_tier": "Risk tier",
    "risk_reasons": "Why",
    "payment_count_30d": "Payments (30 d)",
    "refund_ratio_30d": "Refund rate (30 d, %)",
    "dispute_ratio_30d": "Dispute rate (30 d, %)",
    "payment_failure_ratio_30d": "Payment failure rate (30 d, %)",
    "stream_seconds_p50_last_24h": "Stream sync p50 (s, 24 h)",
    "stream_seconds_p99_last_24h": "Stream sync p99 (s, 24 h)",
    "sync_seconds_p50_last_24h": "Sync p50 (s, 24 h)",
    "sync_seconds_p99_last_24h": "Sync p99 (s, 24 h)",
    "error_rate_last_24h": "Error rate (24 h, %)",
    "error_rate": "Sync error rate (%)",
    "is_late": "Late",
    "dlq_records_total": "Dead letters",
    "dlq_records_replayed_total": "Dead letters replayed",
    "dlq_records": "Dead letters waiting",
    "dlq_replayed": "Dead letters replayed",
    "records_lost_total": "Records lost",
    "elapsed_seconds": "Duration (s)",
    "revenue_rank": "Rank",
    "current_revenue": "This period (USD)",
    "previous_revenue": "Previous period (USD)",
    "revenue_change": "Change (%)",
    "comparison": "Period",
    "bot_share": "Bot share (%)",
    "test_share": "Test traffic share (%)",
    "conversion_rate": "Conversion rate (%)",
    "max_hours_since_success": "Hours since the oldest success",
}
_UNITS = (
    ("_reporting", f" ({REPORTING_CURRENCY})"),
    ("_last_24h", " (24 h)"),
    ("_24h", " (24 h)"),
    ("_30d", " (30 d)"),
    ("_7d", " (7 d)"),
)


def label(name: str, currency: bool = False) -> str:
    """A column's or metric's human label: LABELS, else the name in words with its unit."""
    if name in LABELS:
        return LABELS[name]
    words, unit = name, ""
    for suffix, text in _UNITS:
        if words.endswith(suffix):
            words, unit = words[: -len(suffix)], text
            break
    if currency and not unit:
        unit = f" ({REPORTING_CURRENCY})"
    words = words.removeprefix("is_").replace("_", " ")
    return words[:1].upper() + words[1:] + unit


def region_case(column: str) -> str:
    """SQL: the region of a country code column (portable CASE)."""
    whens = " ".join(f"when '{c}' then '{r}'" for c, r in REGION_OF_COUNTRY.items())
    return f"case {column} {whens} else 'Other' end"


def with_region(table: str, extra: str = "") -> str:
    """A virtual dataset's SQL: a gold mart, the region of its country, `extra` columns."""
    columns = f"t.*, {region_case('t.country_code')} as region{extra}"
    return f"select {columns}\nfrom {SCHEMA}.{table} t"


@dataclass(frozen=True)
class Dataset:
    name: str  # the table (view) name, or the name of a virtual dataset
    main_dttm: str | None = None
    metrics: dict[str, str] = field(default_factory=dict)  # name -> SQL expression
    sql: str | None = None  # a virtual dataset: a query over the analytics schema
    description: str = ""
    percent_metrics: tuple[str, ...] = ()  # metrics shown as percentages
    currency_metrics: tuple[str, ...] = ()  # metrics in the reporting currency


@dataclass(frozen=True)
class Chart:
    name: str
    dataset: str
    kind: str  # line, bar, bar_by, pie, table, big_number, histogram, funnel
    metrics: tuple[str, ...] = ()
    x: str | None = None  # the x axis (a temporal column with `grain`, or a category)
    grain: str | None = None  # P1D, P1W, P1M, PT5M ...
    groupby: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()  # raw table columns (table kind without metrics)
    order_by: tuple[tuple[str, bool], ...] = ()  # (column or metric, ascending)
    row_limit: int = 10_000  # a safety net, never a top-N: no chart may reach it
    stacked: bool = False
    bins: int = 20  # histogram
    width: int = 6  # of 12 grid columns; each row of a dashboard adds up to 12
    height: int = 50
    number_format: str | None = None  # None: from the metrics (currency, %, plain)
    description: str = ""  # one line under the chart's title


@dataclass(frozen=True)
class NativeFilter:
    name: str  # what it lists ("Region" lists regions)
    kind: str  # select or time
    dataset: str
    column: str
    multi: bool = True


@dataclass(frozen=True)
class Dashboard:
    title: str
    slug: str
    charts: tuple[Chart, ...]
    filters: tuple[NativeFilter, ...] = ()
    description: str = ""


def big_number(
    name: str, dataset: str, metric: str, width: int, description: str, **options
) -> Chart:
    """A KPI tile: one metric over the filtered rows."""
    return Chart(name, dataset, "big_number", (metric,), width=width, height=25,
                 description=description, **options)  # fmt: skip


def ranked_bars(name: str, dataset: str, metric: str, x: str, description: str, **options):
    """One bar per value of `x`, the largest first."""
    return Chart(name, dataset, "bar_by", (metric,), x, order_by=((metric, False),),
                 description=description, **options)  # fmt: skip


def table(
    name: str, dataset: str, columns: tuple[str, ...], order_by, description: str, **options
) -> Chart:
    """A table of raw rows (every row, paginated), columns labelled from LABELS."""
    return Chart(name, dataset, "table", columns=columns, order_by=order_by,
                 description=description, **{"width": 12, **options})  # fmt: skip


MONEY = ("gross_revenue", "net_revenue", "refunded", "average_order_value")
# this period against the one before it, both ending on the last day of the data
PERIODS = (("Week: last 7 days vs the 7 before", 7), ("Month: last 30 days vs the 30 before", 30))

DATASETS = (
    Dataset(
        "daily_revenue",
        main_dttm="order_date",
        sql=with_region("daily_revenue"),
        description=(
            "Revenue per day, buyer country and product category (docs/metrics.md), with the "
            "country's region. Money and units add up over every column; orders do not (an "
            "order spans categories): count orders with daily_orders."
        ),
        metrics={
            "gross_revenue": "SUM(gross_revenue_reporting)",
            "net_revenue": "SUM(net_revenue_reporting)",
            "refunded": "SUM(refunded_reporting)",
            "units": "SUM(units)",
        },
        currency_metrics=MONEY,
    ),
    Dataset(
        "daily_orders",
        main_dttm="order_date",
        sql=with_region("daily_orders"),
        description="Orders per day and buyer country, each order once (docs/metrics.md).",
        metrics={
            "orders": "SUM(order_count)",
            "gross_revenue": "SUM(gross_revenue_reporting)",
            "net_revenue": "SUM(net_revenue_reporting)",
            "average_order_value": ("SUM(gross_revenue_reporting) / NULLIF(SUM(order_count), 0)"),
        },
        currency_metrics=MONEY,
    ),
    Dataset(
        "revenue_period_over_period",
        description="Gross revenue of the last 7 (30) days of the data against the 7 (30) "
        "days before, per buyer country, region and product category.",
        sql=(
            f"with last_day as (select max(order_date) as day from {SCHEMA}.daily_revenue),\n"
            "periods as ("
            + " union all ".join(
                f"select '{name}' as comparison, {days} as days" for name, days in PERIODS
            )
            + ")\nselect p.comparison, r.country_code, r.product_category, "
            f"{region_case('r.country_code')} as region,\n"
            "  sum(case when r.order_date > d.day - p.days then r.gross_revenue_reporting"
            " else 0 end) as current_revenue,\n"
            "  sum(case when r.order_date <= d.day - p.days then r.gross_revenue_reporting"
            " else 0 end) as previous_revenue\n"
            f"from {SCHEMA}.daily_revenue r cross join last_day d cross join periods p\n"
            "where r.order_date > d.day - 2 * p.days\n"
            "group by p.comparison, r.country_code, r.product_category"
        ),
        metrics={
            "current_revenue": "SUM(current_revenue)",
            "previous_revenue": "SUM(previous_revenue)",
            "revenue_change": "SUM(current_revenue) / NULLIF(SUM(previous_revenue), 0) - 1",
        },
        currency_metrics=("current_revenue", "previous_revenue"),
        percent_metrics=("revenue_change",),
    ),
    Dataset(
        "top_products",
        description="The 10 products with the most gross revenue over the whole period, ranked "
        "in SQL (ties broken by product id).",
        sql=(
            "select * from (\n"
            "  select row_number() over (order by sum(gross_revenue_reporting) desc, product_id)"
            " as revenue_rank,\n"
            "    product_name, product_category, sum(units) as units,\n"
            "    sum(gross_revenue_reporting) as gross_revenue_reporting,\n"
            "    sum(net_revenue_reporting) as net_revenue_reporting\n"
            f"  from {SCHEMA}.sales_by_region_product\n"
            "  group by product_id, product_name, product_category\n"
            ") ranked where revenue_rank <= 10"
        ),
    ),
    Dataset(
        "customer_lifetime_value",
        main_dttm="first_ordered_at",
        sql=with_region(
            "customer_lifetime_value",
            ",\n  case when t.is_repeat_customer then 'Repeat buyer' else 'One-time buyer' end"
            " as buyer_type",
        ),
        description="One row per customer: orders, lifetime revenue, first order.",
        metrics={
            "customers": "COUNT(*)",
            # of the customers who ordered at least once, the share who ordered again
            "repeat_rate": (
                "SUM(CASE WHEN is_repeat_customer THEN 1 ELSE 0 END) * 1.0"
                " / NULLIF(SUM(CASE WHEN order_count > 0 THEN 1 ELSE 0 END), 0)"
            ),
            "lifetime_revenue": "SUM(lifetime_revenue_reporting)",
            "lifetime_net_revenue": "SUM(lifetime_net_revenue_reporting)",
            "average_order_value": (
                "SUM(lifetime_revenue_reporting) / NULLIF(SUM(order_count), 0)"
            ),
        },
        percent_metrics=("repeat_rate",),
        currency_metrics=("lifetime_revenue", "lifetime_net_revenue", "average_order_value"),
    ),
    Dataset(
        "merchant_risk",
        description=(
            "Each merchant's risk as of the end of the data: the 30 days before it, the "
            "velocity of its last 24 hours, its risk tier (docs/risk.md)."
        ),
        metrics={
            "merchants": "COUNT(*)",
            "refund_rate": "SUM(refund_count_30d) * 1.0 / NULLIF(SUM(payment_count_30d), 0)",
            "dispute_rate": "SUM(dispute_count_30d) * 1.0 / NULLIF(SUM(payment_count_30d), 0)",
            "payment_failure_rate": (
                "SUM(failed_payment_count_30d) * 1.0"
                " / NULLIF(SUM(payment_count_30d + failed_payment_count_30d), 0)"
            ),
        },
        percent_metrics=("refund_rate", "dispute_rate", "payment_failure_rate"),
    ),
    Dataset(
        "payments",
        main_dttm="paid_date",
        description="fct_payments with the merchant's name and country.",
        sql=(
            "select p.payment_id, p.paid_date, p.payment_status, p.payment_method, "
            "p.is_successful, p.amount_reporting, m.merchant_name, m.country_code\n"
            f"from {SCHEMA}.fct_payments p\n"
            f"join {SCHEMA}.dim_merchants m on m.merchant_id = p.merchant_id"
        ),
        metrics={
            "payments": "COUNT(*)",
            # failed attempts capture no money: only successful payments add up
            "captured": "SUM(CASE WHEN is_successful THEN amount_reporting ELSE 0 END)",
        },
        currency_metrics=("captured",),
    ),
    Dataset(
        "refunds",
        main_dttm="refund_date",
        description="fct_refunds with the merchant's name and country.",
        sql=(
            "select r.refund_id, r.refund_date, r.refund_reason, r.amount_reporting, "
            "m.merchant_name, m.country_code\n"
            f"from {SCHEMA}.fct_refunds r\n"
            f"join {SCHEMA}.dim_merchants m on m.merchant_id = r.merchant_id"
        ),
        metrics={"refunds": "COUNT(*)", "refunded": "SUM(amount_reporting)"},
        currency_metrics=("refunded",),
    ),
    Dataset(
        "clickstream_latest_day",
        main_dttm="window_start_at",
        description="The last 24 hours of data in clickstream_5min (human traffic).",
        sql=(
            f"select * from {SCHEMA}.clickstream_5min\n"
            f"where window_start_at > (select max(window_start_at) from {SCHEMA}.clickstream_5min)"
            " - interval '1 day'"
        ),
        metrics={"events": "SUM(event_count)"},
    ),
    Dataset(
        "clickstream_5min",
        main_dttm="window_start_at",
        metrics={"events": "SUM(event_count)", "sessions": "SUM(session_count)"},
    ),
    Dataset(
        "funnel_steps",
        main_dttm="session_date",
        description="funnel_conversion unpivoted: one row per day, country and funnel step.",
        sql="\nunion all\n".join(
            f"select session_date, country_code, '{order}. {label}' as step, "
            f"{column} as sessions from {SCHEMA}.funnel_conversion"
            for order, label, column in (
                (1, "page view", "page_view_sessions"),
                (2, "product view", "product_view_sessions"),
                (3, "add to cart", "add_to_cart_sessions"),
                (4, "checkout", "checkout_sessions"),
                (5, "purchase", "purchase_sessions"),
            )
        ),
        metrics={"sessions": "SUM(sessions)"},
    ),
    Dataset(
        "funnel_conversion",
        main_dttm="session_date",
        metrics={
            "conversion_rate": "SUM(purchase_sessions) * 1.0 / NULLIF(SUM(session_count), 0)",
            "sessions": "SUM(session_count)",
        },
        percent_metrics=("conversion_rate",),
    ),
    Dataset(
        "clickstream_traffic_daily",
        main_dttm="event_date",
        description="Every clickstream event per day, country and traffic class (human, bot, "
        "test): what the other clickstream marts leave out.",
        metrics={
            "events": "SUM(event_count)",
            "bot_share": (
                "SUM(CASE WHEN traffic_class = 'bot' THEN event_count ELSE 0 END) * 1.0 "
                "/ NULLIF(SUM(event_count), 0)"
            ),
            "test_share": (
                "SUM(CASE WHEN traffic_class = 'test' THEN event_count ELSE 0 END) * 1.0 "
                "/ NULLIF(SUM(event_count), 0)"
            ),
        },
        percent_metrics=("bot_share", "test_share"),
    ),
    Dataset(
        "pipeline_health",
        description="One row per connection and stream: last sync, freshness against the "
        "schedule, throughput and durations over 24 h, records lost, dead letters.",
        metrics={
            "streams": "COUNT(*)",
            "rows_written_last_sync": "SUM(rows_written_last_sync)",
            "dlq_records": "SUM(dlq_records_total)",
            "dlq_replayed": "SUM(dlq_records_replayed_total)",
            "failing_streams": "SUM(CASE WHEN health_status = 'failing' THEN 1 ELSE 0 END)",
            "late_streams": "SUM(CASE WHEN is_late THEN 1 ELSE 0 END)",
            "records_lost": "SUM(records_lost_total)",
            "unreconciled_streams": "SUM(CASE WHEN is_last_sync_reconciled THEN 0 ELSE 1 END)",
            "failed_syncs_24h": "SUM(failed_syncs_last_24h)",
            "max_hours_since_success": "MAX(hours_since_last_success)",
        },
    ),
    Dataset(
        "sync_throughput_24h",
        main_dttm="sync_hour",
        description="sync_throughput_hourly for the 24 hours before the last build.",
        sql=f"select * from {SCHEMA}.sync_throughput_hourly where is_last_24h",
        metrics={
            "rows_written": "SUM(rows_written)",
            "rows_read": "SUM(rows_read)",
            "rows_dlq": "SUM(rows_dlq)",
        },
    ),
    Dataset(
        "connection_sync_health",
        description="One row per connection: syncs, failures and durations over 24 h.",
        metrics={
            "syncs_24h": "SUM(syncs_last_24h)",
            "error_rate": "SUM(failed_syncs_last_24h) * 1.0 / NULLIF(SUM(syncs_last_24h), 0)",
        },
        percent_metrics=("error_rate",),
    ),
    Dataset(
        "dead_letters_by_reason",
        description="The dead-letter queue per connection, stream and kind of reason.",
        metrics={"dead_letters": "SUM(dead_letters)", "replayed": "SUM(replayed_dead_letters)"},
    ),
    Dataset(
        "active_alerts",
        main_dttm="created_at",
        description="pipeline_alerts raised in the 24 hours before the last build.",
        sql=f"select * from {SCHEMA}.pipeline_alerts where is_active",
        metrics={"alerts": "COUNT(*)"},
    ),
    Dataset(
        "sync_runs_daily",
        main_dttm="sync_date",
        metrics={
            "rows_written": "SUM(rows_written)",
            "syncs": "SUM(sync_count)",
            "failed_syncs": "SUM(failed_sync_count)",
            "dlq_rows": "SUM(rows_dlq)",
        },
    ),
    Dataset(
        "sync_stream_runs",
        main_dttm="started_at",
        description="One row per sync run and stream: rows read, written, sent to the DLQ.",
        metrics={
            "rows_written": "SUM(rows_written)",
            "rows_read": "SUM(rows_read)",
            "rows_dlq": "SUM(rows_dlq)",
        },
    ),
    Dataset(
        "dbt_build_results",
        main_dttm="generated_at",
        description="One row per dbt invocation of the orchestrator: models and tests by outcome.",
        metrics={
            "builds": "COUNT(*)",
            "failed_checks": "SUM(tests_failed + tests_errored)",
            "failed_builds": "SUM(CASE WHEN is_successful THEN 0 ELSE 1 END)",
        },
    ),
    Dataset(
        "gold_publication",
        main_dttm="published_at",
        description="What the serving layer published: rows per gold mart in the snapshot.",
        metrics={"rows": "SUM(row_count)"},
    ),
)

DASHBOARDS = (
    Dashboard(
        "Revenue",
        "revenue",
        description=(
            "How much the marketplace sells, where and what: gross and net revenue in "
            f"{REPORTING_CURRENCY} (after refunds; docs/metrics.md), orders, this week and "
            "month against the previous ones."
        ),
        charts=(
            big_number(
                "Gross revenue",
                "daily_revenue",
                "gross_revenue",
                3,
                "Orders' value before refunds, cancelled orders excluded.",
            ),
            big_number(
                "Net revenue", "daily_revenue", "net_revenue", 3, "Gross revenue minus refunds."
            ),
            big_number(
                "Orders", "daily_orders", "orders", 3, "Orders placed and not cancelled, each once."
            ),
            big_number(
                "Average order value",
                "daily_orders",
                "average_order_value",
                3,
                "Gross revenue per order.",
            ),
            Chart(
                "Revenue: this period vs the previous one",
                "revenue_period_over_period",
                "table",
                ("current_revenue", "previous_revenue", "revenue_change"),
                groupby=("comparison",),
                order_by=(("comparison", False),),
                width=12,
                height=20,
                description="Gross revenue of the last 7 and 30 days of the data against the "
                "7 and 30 days before them.",
            ),
            Chart(
                "Daily revenue",
                "daily_revenue",
                "line",
                ("gross_revenue", "net_revenue"),
                "order_date",
                "P1D",
                width=12,
                description="Gross and net revenue per order day.",
            ),
            Chart(
                "Orders per day",
                "daily_orders",
                "line",
                ("orders",),
                "order_date",
                "P1D",
                description="Orders placed per day (cancelled orders excluded).",
            ),
            ranked_bars(
                "Revenue by region",
                "daily_revenue",
                "gross_revenue",
                "region",
                "Gross revenue per buyer region.",
            ),
            ranked_bars(
                "Revenue by country",
                "daily_revenue",
                "gross_revenue",
                "country_code",
                "Gross revenue per buyer country.",
            ),
            Chart(
                "Revenue by product category",
                "daily_revenue",
                "pie",
                ("gross_revenue",),
                groupby=("product_category",),
                description="Share of gross revenue per product category.",
            ),
            table(
                "Top 10 products",
                "top_products",
                (
                    "revenue_rank",
                    "product_name",
                    "product_category",
                    "units",
                    "gross_revenue_reporting",
                    "net_revenue_reporting",
                ),
                (("revenue_rank", True),),
                "The ten products with the most gross revenue over the whole period.",
                height=60,
            ),
        ),
        filters=(
            NativeFilter("Order date", "time", "daily_revenue", "order_date"),
            NativeFilter("Region", "select", "daily_revenue", "region"),
            NativeFilter("Country", "select", "daily_revenue", "country_code"),
            NativeFilter("Product category", "select", "daily_revenue", "product_category"),
        ),
    ),
    Dashboard(
        "Customers",
        "customers",
        description="Who buys and comes back: customers, repeat-purchase rate, lifetime "
        f"value in {REPORTING_CURRENCY} and cohorts by first-order month.",
        charts=(
            big_number(
                "Customers",
                "customer_lifetime_value",
                "customers",
                4,
                "Customers in the shop's current records.",
            ),
            big_number(
                "Repeat-purchase rate",
                "customer_lifetime_value",
                "repeat_rate",
                4,
                "Of the customers who ordered, the share who ordered again.",
            ),
            big_number(
                "Average order value per customer",
                "customer_lifetime_value",
                "average_order_value",
                4,
                "Lifetime revenue per order.",
            ),
            Chart(
                "Cohorts by first-order month",
                "customer_lifetime_value",
                "bar",
                ("customers",),
                "first_ordered_at",
                "P1M",
                groupby=("buyer_type",),
                stacked=True,
                width=12,
                description="Customers by the month of their first order; repeat buyers "
                "stacked on one-time buyers.",
            ),
            Chart(
                "Lifetime value distribution",
                "customer_lifetime_value",
                "histogram",
                x="lifetime_revenue_reporting",
                bins=25,
                description=f"Customers by lifetime gross revenue ({REPORTING_CURRENCY}).",
            ),
            ranked_bars(
                "Customers by region",
                "customer_lifetime_value",
                "customers",
                "region",
                "Customers per region of their country.",
            ),
        ),
        filters=(
            NativeFilter("First order date", "time", "customer_lifetime_value", "first_ordered_at"),
            NativeFilter("Region", "select", "customer_lifetime_value", "region"),
            NativeFilter("Country", "select", "customer_lifetime_value", "country_code"),
        ),
    ),
    Dashboard(
        "Payments & risk",
        "payments-risk",
        description=(
            "Refund, dispute and payment failure rates over the last 30 days, payment "
            "outcomes, and merchants by risk tier as of the end of the data (docs/risk.md)."
        ),
        charts=(
            big_number(
                "Refund rate",
                "merchant_risk",
                "refund_rate",
                4,
                "Refunds per successful payment, last 30 days.",
            ),
            big_number(
                "Dispute rate",
                "merchant_risk",
                "dispute_rate",
                4,
                "Disputes per successful payment, last 30 days.",
            ),
            big_number(
                "Payment failure rate",
                "merchant_risk",
                "payment_failure_rate",
                4,
                "Failed attempts of all payment attempts, last 30 days.",
            ),
            Chart(
                "Payments by status",
                "payments",
                "bar",
                ("payments",),
                "paid_date",
                "P1W",
                groupby=("payment_status",),
                stacked=True,
                description="Payment attempts per week (starting Monday) by outcome.",
            ),
            Chart(
                "Refunds per week",
                "refunds",
                "line",
                ("refunds",),
                "refund_date",
                "P1W",
                description="Refunds issued per week (starting Monday).",
            ),
            Chart(
                "Merchants per risk tier",
                "merchant_risk",
                "pie",
                ("merchants",),
                groupby=("risk_tier",),
                width=4,
                description="Merchants by risk tier (docs/risk.md).",
            ),
            table(
                "Merchants at risk",
                "merchant_risk",
                (
                    "merchant_name",
                    "country_code",
                    "risk_tier",
                    "risk_reasons",
                    "refund_ratio_30d",
                    "dispute_ratio_30d",
                    "payment_failure_ratio_30d",
                    "payment_count_30d",
                ),
                (("risk_tier_rank", False), ("dispute_ratio_30d", False), ("merchant_name", True)),
                "Every merchant, the riskiest first: tier, then dispute rate.",
                width=8,
            ),
        ),
        filters=(
            NativeFilter("Payment date", "time", "payments", "paid_date"),
            NativeFilter("Merchant country", "select", "merchant_risk", "country_code"),
            NativeFilter("Merchant", "select", "merchant_risk", "merchant_name"),
        ),
    ),
    Dashboard(
        "Clickstream",
        "clickstream",
        description="What visitors do: human traffic per 5 minutes by event type, the shop "
        "funnel from page view to purchase, conversion, and the bot share.",
        charts=(
            Chart(
                "Events per 5 minutes (latest day)",
                "clickstream_latest_day",
                "line",
                ("events",),
                "window_start_at",
                "PT5M",
                groupby=("event_type",),
                width=12,
                description="Human events in the last 24 hours of data, by event type.",
            ),
            Chart(
                "Funnel: page view to purchase",
                "funnel_steps",
                "funnel",
                ("sessions",),
                groupby=("step",),
                description="Sessions reaching each step of the funnel.",
            ),
            Chart(
                "Conversion rate per week",
                "funnel_conversion",
                "line",
                ("conversion_rate",),
                "session_date",
                "P1W",
                description="Sessions with a purchase, of all sessions, per week.",
            ),
            Chart(
                "Bot share of events per day",
                "clickstream_traffic_daily",
                "line",
                ("bot_share", "test_share"),
                "event_date",
                "P1D",
                description="Bot and test traffic of all events (left out of the other charts).",
            ),
            Chart(
                "Events by type",
                "clickstream_5min",
                "pie",
                ("events",),
                groupby=("event_type",),
                description="Human events by type.",
            ),
        ),
        filters=(
            NativeFilter("Event date", "time", "clickstream_5min", "window_start_at"),
            NativeFilter("Country", "select", "clickstream_5min", "country_code"),
        ),
    ),
    Dashboard(
        "Pipeline health",
        "pipeline-health",
        description="Is every stream landing on schedule, with nothing lost? Red figures: "
        "see docs/operations.md.",
        charts=(
            big_number(
                "Failing streams",
                "pipeline_health",
                "failing_streams",
                2,
                "Streams whose last sync failed.",
            ),
            big_number(
                "Late streams",
                "pipeline_health",
                "late_streams",
                2,
                "Streams past their next scheduled sync.",
            ),
            big_number(
                "Records lost",
                "pipeline_health",
                "records_lost",
                2,
                "Source - bronze - dead letters: must read 0.",
            ),
            big_number(
                "Sync error rate (24 h)",
                "connection_sync_health",
                "error_rate",
                2,
                "Failed syncs of all syncs, last 24 hours.",
            ),
            big_number(
                "Dead letters waiting",
                "pipeline_health",
                "dlq_records",
                2,
                "Records in the dead-letter queue (lakehouse dlq list).",
            ),
            big_number(
                "Active alerts", "active_alerts", "alerts", 2, "Alerts raised in the last 24 hours."
            ),
            Chart(
                "Rows written per hour, by connection and stream (24 h)",
                "sync_throughput_24h",
                "bar",
                ("rows_written",),
                "sync_hour",
                "PT1H",
                groupby=("connection_name", "stream_name"),
                stacked=True,
                width=12,
                description="Throughput of the last 24 hours per source and stream.",
            ),
            table(
                "Freshness and status per stream",
                "pipeline_health",
                (
                    "connection_name",
                    "stream_name",
                    "health_status",
                    "is_late",
                    "stream_schedule",
                    "next_sync_due_at",
                    "minutes_overdue",
                    "hours_since_last_success",
                    "last_sync_status",
                    "rows_written_last_24h",
                    "stream_seconds_p50_last_24h",
                    "stream_seconds_p99_last_24h",
                    "records_lost_total",
                    "dlq_records_total",
                    "dlq_records_replayed_total",
                ),
                (("health_severity", False), ("minutes_overdue", False)),
                "Every stream against its schedule, the worst first.",
            ),
            table(
                "Sync duration and errors per connection (24 h)",
                "connection_sync_health",
                (
                    "connection_name",
                    "source_type",
                    "syncs_last_24h",
                    "failed_syncs_last_24h",
                    "error_rate_last_24h",
                    "sync_seconds_p50_last_24h",
                    "sync_seconds_p99_last_24h",
                    "last_sync_status",
                ),
                (("failed_syncs_last_24h", False), ("connection_name", True)),
                "Syncs, failures and durations (p50, p99) per connection.",
                width=6,
            ),
            table(
                "Dead letters by reason",
                "dead_letters_by_reason",
                (
                    "connection_name",
                    "stream_name",
                    "reason_kind",
                    "dead_letters",
                    "replayed_dead_letters",
                    "last_extracted_at",
                    "example_location",
                ),
                (("dead_letters", False),),
                "The dead-letter queue per stream and kind of reason.",
                width=6,
            ),
            big_number(
                "Dead letters replayed",
                "pipeline_health",
                "dlq_replayed",
                3,
                "Dead letters replayed into bronze after a fix.",
            ),
            big_number(
                "Failed syncs (24 h)",
                "pipeline_health",
                "failed_syncs_24h",
                3,
                "Failed syncs over all streams, last 24 hours.",
            ),
            big_number(
                "Unreconciled streams",
                "pipeline_health",
                "unreconciled_streams",
                3,
                "Streams whose last sync's counts do not reconcile.",
            ),
            big_number(
                "Hours since the oldest success",
                "pipeline_health",
                "max_hours_since_success",
                3,
                "The stream longest without a successful sync.",
            ),
            Chart(
                "Rows synced per day and connection",
                "sync_runs_daily",
                "bar",
                ("rows_written",),
                "sync_date",
                "P1D",
                groupby=("connection_name",),
                stacked=True,
                width=12,
                description="Rows written to bronze per day and connection.",
            ),
            table(
                "Rows synced per run and stream",
                "sync_stream_runs",
                (
                    "started_at",
                    "connection_name",
                    "stream_name",
                    "sync_status",
                    "is_full_refresh",
                    "rows_read",
                    "rows_written",
                    "rows_dlq",
                    "reconciliation_status",
                ),
                (("started_at", False), ("connection_name", True), ("stream_name", True)),
                "Every sync run per stream, the latest first.",
            ),
            table(
                "Failed checks per dbt build",
                "dbt_build_results",
                (
                    "generated_at",
                    "is_successful",
                    "tests_failed",
                    "tests_errored",
                    "tests_warned",
                    "tests_passed",
                    "models_errored",
                    "models_succeeded",
                    "elapsed_seconds",
                ),
                (("generated_at", False),),
                "Every dbt build of the orchestrator, the latest first.",
            ),
            ranked_bars(
                "Rows per gold mart (last publish)",
                "gold_publication",
                "rows",
                "model_name",
                width=12,
                description="Rows per mart in the snapshot the dashboards read.",
            ),
        ),
        filters=(NativeFilter("Connection", "select", "pipeline_health", "connection_name"),),
    ),
)

# the live sales dashboard over the streamed events (bundle_spec_live.py)
from bundle_spec_live import LIVE_DASHBOARDS, LIVE_DATASETS  # noqa: E402

DATASETS += LIVE_DATASETS
DASHBOARDS += LIVE_DASHBOARDS
