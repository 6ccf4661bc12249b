"""The dashboards, declared compactly: datasets with their saved metrics, and charts.

`generate_bundles.py` turns this into the YAML bundle under `superset/bundles/` (what the
bootstrap imports and what reviewers read), giving every chart form data and a saved query
context that agree. Edit here, regenerate, commit both.

Every dataset reads the serving catalog's `analytics` schema (the same name in server
mode's PostgreSQL), never the file dbt writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA = "analytics"


@dataclass(frozen=True)
class Dataset:
    name: str  # the table (view) name, or the name of a virtual dataset
    main_dttm: str | None = None
    metrics: dict[str, str] = field(default_factory=dict)  # name -> SQL expression
    sql: str | None = None  # a virtual dataset: a query over the analytics schema
    description: str = ""
    percent_metrics: tuple[str, ...] = ()  # metrics shown as percentages


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
    row_limit: int = 10_000
    stacked: bool = False
    bins: int = 20  # histogram
    width: int = 6  # of 12 grid columns
    height: int = 50
    number_format: str = "SMART_NUMBER"


@dataclass(frozen=True)
class NativeFilter:
    name: str
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


DATASETS = (
    Dataset(
        "daily_revenue",
        main_dttm="order_date",
        description=(
            "Revenue per day, buyer country and product category (docs/metrics.md). Money and "
            "units add up over every column; orders do not (an order spans categories): "
            "count orders with daily_orders."
        ),
        metrics={
            "gross_revenue": "SUM(gross_revenue_reporting)",
            "net_revenue": "SUM(net_revenue_reporting)",
            "refunded": "SUM(refunded_reporting)",
            "units": "SUM(units)",
        },
    ),
    Dataset(
        "daily_orders",
        main_dttm="order_date",
        description="Orders per day and buyer country, each order once (docs/metrics.md).",
        metrics={
            "orders": "SUM(order_count)",
            "gross_revenue": "SUM(gross_revenue_reporting)",
            "net_revenue": "SUM(net_revenue_reporting)",
            "average_order_value": ("SUM(gross_revenue_reporting) / NULLIF(SUM(order_count), 0)"),
        },
    ),
    Dataset(
        "sales_by_region_product",
        metrics={
            "gross_revenue": "SUM(gross_revenue_reporting)",
            "net_revenue": "SUM(net_revenue_reporting)",
            "units": "SUM(units)",
        },
    ),
    Dataset(
        "customer_lifetime_value",
        main_dttm="first_ordered_at",
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
        "fct_payments",
        main_dttm="paid_date",
        metrics={
            "payments": "COUNT(*)",
            # failed attempts capture no money: only successful payments add up
            "captured": "SUM(CASE WHEN is_successful THEN amount_reporting ELSE 0 END)",
        },
    ),
    Dataset(
        "fct_refunds",
        main_dttm="refund_date",
        metrics={"refunds": "COUNT(*)", "refunded": "SUM(amount_reporting)"},
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
            "Daily gross and net revenue in the reporting currency by region and product "
            "category, orders and average order value (definitions: docs/metrics.md)."
        ),
        charts=(
            Chart(
                "Daily revenue",
                "daily_revenue",
                "line",
                ("gross_revenue", "net_revenue"),
                "order_date",
                "P1D",
                width=12,
                height=50,
            ),
            Chart(
                "Orders per day",
                "daily_orders",
                "line",
                ("orders",),
                "order_date",
                "P1D",
                width=8,
            ),
            Chart(
                "Average order value",
                "daily_orders",
                "big_number",
                ("average_order_value",),
                width=4,
                number_format=",.2f",
            ),
            Chart(
                "Revenue by region",
                "daily_revenue",
                "bar_by",
                ("gross_revenue",),
                "country_code",
                order_by=(("gross_revenue", False),),
            ),
            Chart(
                "Revenue by product category",
                "daily_revenue",
                "pie",
                ("gross_revenue",),
                groupby=("product_category",),
            ),
            Chart(
                "Top products",
                "sales_by_region_product",
                "table",
                ("gross_revenue", "net_revenue", "units"),
                groupby=("product_name", "product_category"),
                order_by=(("gross_revenue", False),),
                row_limit=10,
                width=12,
            ),
        ),
        filters=(
            NativeFilter("Period", "time", "daily_revenue", "order_date"),
            NativeFilter("Region", "select", "daily_revenue", "country_code"),
            NativeFilter("Product category", "select", "daily_revenue", "product_category"),
        ),
    ),
    Dashboard(
        "Customers",
        "customers",
        description="Customer lifetime value, cohorts by first-order month and repeat buyers.",
        charts=(
            Chart(
                "Repeat rate",
                "customer_lifetime_value",
                "big_number",
                ("repeat_rate",),
                width=4,
                number_format=".1%",
            ),
            Chart(
                "Lifetime value distribution",
                "customer_lifetime_value",
                "histogram",
                x="lifetime_revenue_reporting",
                bins=25,
                width=8,
            ),
            Chart(
                "Cohorts by first-order month",
                "customer_lifetime_value",
                "bar",
                ("customers",),
                "first_ordered_at",
                "P1M",
                groupby=("is_repeat_customer",),
                stacked=True,
                width=12,
            ),
        ),
        filters=(NativeFilter("Country", "select", "customer_lifetime_value", "country_code"),),
    ),
    Dashboard(
        "Payments & risk",
        "payments-risk",
        description=(
            "Refund, dispute and payment failure rates over the last 30 days, payment "
            "outcomes, and merchants by risk tier as of the end of the data (docs/risk.md)."
        ),
        charts=(
            Chart(
                "Refund rate",
                "merchant_risk",
                "big_number",
                ("refund_rate",),
                width=4,
                number_format=".2%",
            ),
            Chart(
                "Dispute rate",
                "merchant_risk",
                "big_number",
                ("dispute_rate",),
                width=4,
                number_format=".2%",
            ),
            Chart(
                "Payment failure rate",
                "merchant_risk",
                "big_number",
                ("payment_failure_rate",),
                width=4,
                number_format=".2%",
            ),
            Chart(
                "Payments by status",
                "fct_payments",
                "bar",
                ("payments",),
                "paid_date",
                "P1W",
                groupby=("payment_status",),
                stacked=True,
            ),
            Chart("Refunds per week", "fct_refunds", "line", ("refunds",), "refund_date", "P1W"),
            Chart(
                "Merchants per risk tier",
                "merchant_risk",
                "pie",
                ("merchants",),
                groupby=("risk_tier",),
                width=4,
            ),
            Chart(
                "Merchants at risk",
                "merchant_risk",
                "table",
                columns=(
                    "merchant_name",
                    "country_code",
                    "risk_tier",
                    "risk_reasons",
                    "refund_ratio_30d",
                    "dispute_ratio_30d",
                    "payment_failure_ratio_30d",
                    "payment_count_30d",
                ),
                order_by=(
                    ("risk_tier_rank", False),
                    ("dispute_ratio_30d", False),
                    ("merchant_name", True),
                ),
                row_limit=25,
                width=8,
            ),
        ),
        filters=(NativeFilter("Merchant country", "select", "merchant_risk", "country_code"),),
    ),
    Dashboard(
        "Clickstream",
        "clickstream",
        description="Human traffic per 5 minutes by event type, the shop funnel, bot share.",
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
            ),
            Chart(
                "Funnel: page view to purchase",
                "funnel_steps",
                "funnel",
                ("sessions",),
                groupby=("step",),
            ),
            Chart(
                "Conversion rate per week",
                "funnel_conversion",
                "line",
                ("conversion_rate",),
                "session_date",
                "P1W",
                number_format=".1%",
            ),
            Chart(
                "Events by type", "clickstream_5min", "pie", ("events",), groupby=("event_type",)
            ),
            Chart(
                "Bot share of events per day",
                "clickstream_traffic_daily",
                "line",
                ("bot_share", "test_share"),
                "event_date",
                "P1D",
                width=12,
                number_format=".1%",
            ),
        ),
        filters=(NativeFilter("Country", "select", "clickstream_5min", "country_code"),),
    ),
    Dashboard(
        "Pipeline health",
        "pipeline-health",
        description="Is every stream landing on schedule, with nothing lost? Red figures: "
        "see docs/operations.md.",
        charts=(
            Chart(
                "Failing streams", "pipeline_health", "big_number", ("failing_streams",), width=2
            ),
            Chart("Late streams", "pipeline_health", "big_number", ("late_streams",), width=2),
            Chart("Records lost", "pipeline_health", "big_number", ("records_lost",), width=2),
            Chart(
                "Sync error rate (24 h)",
                "connection_sync_health",
                "big_number",
                ("error_rate",),
                width=2,
                number_format=".1%",
            ),
            Chart(
                "Dead letters waiting", "pipeline_health", "big_number", ("dlq_records",), width=2
            ),
            Chart("Active alerts", "active_alerts", "big_number", ("alerts",), width=2),
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
            ),
            Chart(
                "Freshness and status per stream",
                "pipeline_health",
                "table",
                columns=(
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
                order_by=(("health_severity", False), ("minutes_overdue", False)),
                width=12,
            ),
            Chart(
                "Sync duration and errors per connection (24 h)",
                "connection_sync_health",
                "table",
                columns=(
                    "connection_name",
                    "source_type",
                    "syncs_last_24h",
                    "failed_syncs_last_24h",
                    "error_rate_last_24h",
                    "sync_seconds_p50_last_24h",
                    "sync_seconds_p99_last_24h",
                    "last_sync_status",
                ),
                order_by=(("failed_syncs_last_24h", False), ("connection_name", True)),
            ),
            Chart(
                "Dead letters by reason",
                "dead_letters_by_reason",
                "table",
                columns=(
                    "connection_name",
                    "stream_name",
                    "reason_kind",
                    "dead_letters",
                    "replayed_dead_letters",
                    "last_extracted_at",
                    "example_location",
                ),
                order_by=(("dead_letters", False),),
            ),
            Chart(
                "Dead letters replayed",
                "pipeline_health",
                "big_number",
                ("dlq_replayed",),
                width=3,
            ),
            Chart(
                "Failed syncs (24 h)",
                "pipeline_health",
                "big_number",
                ("failed_syncs_24h",),
                width=3,
            ),
            Chart(
                "Unreconciled streams",
                "pipeline_health",
                "big_number",
                ("unreconciled_streams",),
                width=3,
            ),
            Chart(
                "Hours since the oldest success",
                "pipeline_health",
                "big_number",
                ("max_hours_since_success",),
                width=3,
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
            ),
            Chart(
                "Rows synced per run and stream",
                "sync_stream_runs",
                "table",
                columns=(
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
                order_by=(("started_at", False), ("connection_name", True), ("stream_name", True)),
                row_limit=100,
                width=12,
            ),
            Chart(
                "Failed checks per dbt build",
                "dbt_build_results",
                "table",
                columns=(
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
                order_by=(("generated_at", False),),
                row_limit=50,
                width=12,
            ),
            Chart(
                "Rows per gold mart (last publish)",
                "gold_publication",
                "bar_by",
                ("rows",),
                "model_name",
                order_by=(("rows", False),),
                width=12,
            ),
        ),
        filters=(NativeFilter("Connection", "select", "pipeline_health", "connection_name"),),
    ),
)

# the live sales dashboard over the streamed events (bundle_spec_live.py)
from bundle_spec_live import LIVE_DASHBOARDS, LIVE_DATASETS  # noqa: E402

DATASETS += LIVE_DATASETS
DASHBOARDS += LIVE_DASHBOARDS
