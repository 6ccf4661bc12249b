{#- The incremental fct_orders holds what a full refresh would: every live order of
    staging exactly once, none deleted at the source, and per order the status, total,
    lines, refunds and buyer country staging has now. Fails with one row per order that
    differs (missing, extra or stale). -#}

{# reads several models: Dagster shows it as an asset check of this one #}
{{ config(meta={"dagster": {"ref": {"name": "fct_orders"}}}) }}
with

staging_orders as (
    select * from {{ ref('stg_shop__orders') }}
),

staging_items as (
    select
        order_id,
        count(*) as item_count,
        sum(quantity) as units
    from {{ ref('stg_shop__order_items') }}
    group by order_id
),

staging_refunds as (
    select
        order_id,
        sum(amount_cents) as refunded_cents
    from {{ ref('stg_shop__refunds') }}
    group by order_id
),

customers as (
    select * from {{ ref('stg_shop__customers') }}
),

expected as (
    select
        staging_orders.order_id,
        staging_orders.order_status,
        staging_orders.order_total_cents,
        customers.country_code as customer_country_code,
        coalesce(staging_items.item_count, 0) as item_count,
        coalesce(staging_items.units, 0) as units,
        coalesce(staging_refunds.refunded_cents, 0) as refunded_cents
    from staging_orders
    left join staging_items
        on staging_orders.order_id = staging_items.order_id
    left join staging_refunds
        on staging_orders.order_id = staging_refunds.order_id
    left join customers
        on staging_orders.customer_id = customers.customer_id
),

actual as (
    select * from {{ ref('fct_orders') }}
),

final as (
    select
        coalesce(expected.order_id, actual.order_id) as order_id,
        expected.order_id is null as is_extra_in_fct_orders,
        actual.order_id is null as is_missing_from_fct_orders
    from expected
    full outer join actual
        on expected.order_id = actual.order_id
    where
        expected.order_id is null
        or actual.order_id is null
        or expected.order_status != actual.order_status
        or expected.order_total_cents != actual.order_total_cents
        or coalesce(expected.customer_country_code, '')
        != coalesce(actual.customer_country_code, '')
        or expected.item_count != actual.item_count
        or expected.units != actual.units
        or expected.refunded_cents != actual.refunded_cents
)

select * from final
