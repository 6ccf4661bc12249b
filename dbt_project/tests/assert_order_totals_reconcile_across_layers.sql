{#- Nothing lost between layers: the order totals in staging, in fct_orders and in
    daily_revenue agree (cancelled orders are excluded from revenue by design). -#}

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
    select sum(order_total_reporting) as revenue
    from {{ ref('fct_orders') }}
    where not is_cancelled
),

mart as (
    select sum(revenue_reporting) as revenue
    from {{ ref('daily_revenue') }}
)

select
    staging.total_cents as staging_total_cents,
    fact.total_cents as fact_total_cents,
    fact_revenue.revenue as fact_revenue,
    mart.revenue as mart_revenue
from staging
cross join fact
cross join fact_revenue
cross join mart
where
    staging.total_cents != fact.total_cents
    or staging.n_orders != fact.n_orders
    or abs(fact_revenue.revenue - mart.revenue) > 0.005
