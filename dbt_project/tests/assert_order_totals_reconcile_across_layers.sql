{#- Nothing lost between layers: the order totals in staging, in fct_orders, in
    daily_orders and in daily_revenue agree to the cent, gross and net (cancelled orders
    are excluded from revenue by design). -#}

{# reads several models: Dagster shows it as an asset check of this one #}
{{ config(meta={"dagster": {"ref": {"name": "daily_revenue"}}}) }}
with

staging as (
    select
        sum(order_total_cents) as total_cents,
        count(*) as n_orders
    from {{ ref('stg_shop__orders') }}
),

fact as (
    select
        sum(order_total_cents) as total_cents,
        count(*) as n_orders
    from {{ ref('fct_orders') }}
),

fact_revenue as (
    select
        sum(order_total_reporting) as revenue,
        sum(net_total_reporting) as net_revenue,
        count(*) as n_orders
    from {{ ref('fct_orders') }}
    where not is_cancelled
),

mart as (
    select
        sum(gross_revenue_reporting) as revenue,
        sum(net_revenue_reporting) as net_revenue
    from {{ ref('daily_revenue') }}
),

daily_orders as (
    select
        sum(gross_revenue_reporting) as revenue,
        sum(net_revenue_reporting) as net_revenue,
        sum(order_count) as n_orders
    from {{ ref('daily_orders') }}
)

select
    staging.total_cents as staging_total_cents,
    fact.total_cents as fact_total_cents,
    fact_revenue.revenue as fact_revenue,
    mart.revenue as mart_revenue,
    daily_orders.revenue as daily_orders_revenue
from staging
cross join fact
cross join fact_revenue
cross join mart
cross join daily_orders
where
    staging.total_cents != fact.total_cents
    or staging.n_orders != fact.n_orders
    or fact_revenue.revenue != mart.revenue
    or fact_revenue.net_revenue != mart.net_revenue
    or fact_revenue.revenue != daily_orders.revenue
    or fact_revenue.net_revenue != daily_orders.net_revenue
    or fact_revenue.n_orders != daily_orders.n_orders
