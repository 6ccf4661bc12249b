{#- Lines and refunds agree with their orders (what datagen/marketplace.py guarantees):
    an order's total is the sum of its lines (quantity x unit price) in staging; the
    reporting-currency lines of fct_order_items add up to their order's total exactly;
    a refund never exceeds its order's total; the refunds of fct_refunds add up to
    fct_orders.refunded_cents (and in the reporting currency to refunded_reporting),
    and the successful payments of fct_payments to
    fct_orders.paid_cents; and daily_revenue's units are the lines of orders not
    cancelled. Fails with one row per broken rule and the number of offending rows.
    The rules per order are checked order by order only when a checksum differs (macros/
    key_fingerprints.sql): the orders' totals and refunds against their lines' and their
    refunds', weighted by order and summed, with no group by. -#}

{# reads several models: Dagster shows it as an asset check of this one #}
{{ config(meta={"dagster": {"ref": {"name": "daily_revenue"}}}) }}
{%- set checksums -%}
    select
        {{ weighted_sums_equal(
            ['order_id'],
            [ref('stg_shop__orders'), 'order_total_cents'],
            [ref('stg_shop__order_items'), 'line_total_cents']
        ) }} as staging_orders_balance,
        {{ weighted_sums_equal(
            ['order_id'],
            [ref('fct_orders'), 'order_total_reporting'],
            [ref('fct_order_items'), 'line_total_reporting']
        ) }} as fact_totals_balance,
        {{ weighted_sums_equal(
            ['order_id'],
            [ref('fct_orders'), 'refunded_reporting'],
            [ref('fct_order_items'), 'line_refunded_reporting']
        ) }} as fact_line_refunds_balance,
        {{ weighted_sums_equal(
            ['order_id'],
            [ref('fct_orders'), 'refunded_reporting'],
            [ref('fct_refunds'), 'amount_reporting']
        ) }} as fact_refunds_balance
{%- endset %}
{%- set per_order_sums_agree = sums_agree(checksums) %}
with

staging_items as (
    select
        order_id,
        sum(line_total_cents) as items_total_cents
    from {{ ref('stg_shop__order_items') }}
    group by order_id
),

staging_orders_unbalanced as (
    select count(*) as n_rows
    from {{ ref('stg_shop__orders') }} as orders
    inner join staging_items
        on orders.order_id = staging_items.order_id
    where orders.order_total_cents != staging_items.items_total_cents
),

fact_lines as (
    select
        order_id,
        sum(line_total_reporting) as lines_total_reporting,
        sum(line_refunded_reporting) as lines_refunded_reporting
    from {{ ref('fct_order_items') }}
    group by order_id
),

fact_orders_unbalanced as (
    select count(*) as n_rows
    from {{ ref('fct_orders') }} as orders
    inner join fact_lines
        on orders.order_id = fact_lines.order_id
    where
        orders.order_total_reporting != fact_lines.lines_total_reporting
        or orders.refunded_reporting != fact_lines.lines_refunded_reporting
),

fact_refunds as (
    select
        order_id,
        sum(amount_reporting) as amount_reporting
    from {{ ref('fct_refunds') }}
    group by order_id
),

refunds_reporting_unbalanced as (
    select count(*) as n_rows
    from {{ ref('fct_orders') }} as orders
    left join fact_refunds as refunds
        on orders.order_id = refunds.order_id
    where orders.refunded_reporting != coalesce(refunds.amount_reporting, 0)
),

over_refunded as (
    select count(*) as n_rows
    from {{ ref('fct_orders') }}
    where refunded_cents > order_total_cents
),

refund_totals as (
    select
        (select sum(amount_cents) from {{ ref('fct_refunds') }}) as refunds_cents,
        (select sum(refunded_cents) from {{ ref('fct_orders') }}) as orders_refunded_cents
),

payment_totals as (
    select
        (
            select sum(amount_cents) from {{ ref('fct_payments') }}
            where is_successful
        ) as payments_cents,
        (select sum(paid_cents) from {{ ref('fct_orders') }}) as orders_paid_cents
),

unit_totals as (
    select
        (
            select sum(quantity) from {{ ref('fct_order_items') }}
            where not is_cancelled
        ) as item_units,
        (select sum(units) from {{ ref('daily_revenue') }}) as revenue_units
),

final as (
    select
        'refunded more than the order total' as broken_rule,
        n_rows
    from over_refunded
    where n_rows > 0
    union all
    select
        'fct_refunds != fct_orders.refunded_cents' as broken_rule,
        1 as n_rows
    from refund_totals
    where coalesce(refunds_cents, 0) != coalesce(orders_refunded_cents, 0)
    union all
    select
        'fct_payments (successful) != fct_orders.paid_cents' as broken_rule,
        1 as n_rows
    from payment_totals
    where coalesce(payments_cents, 0) != coalesce(orders_paid_cents, 0)
    union all
    select
        'daily_revenue units != fct_order_items units' as broken_rule,
        1 as n_rows
    from unit_totals
    where coalesce(item_units, 0) != coalesce(revenue_units, 0)
    {%- if not per_order_sums_agree %}
        union all
        select
            'order total != sum of its lines (staging)' as broken_rule,
            n_rows
        from staging_orders_unbalanced
        where n_rows > 0
        union all
        select
            'order_total_reporting or refunded_reporting != sum of its lines' as broken_rule,
            n_rows
        from fact_orders_unbalanced
        where n_rows > 0
        union all
        select
            'refunded_reporting != sum of fct_refunds.amount_reporting' as broken_rule,
            n_rows
        from refunds_reporting_unbalanced
        where n_rows > 0
    {%- else %}
    -- every checksum agrees: no order breaks a rule of its own
    {%- endif %}
)

select * from final
