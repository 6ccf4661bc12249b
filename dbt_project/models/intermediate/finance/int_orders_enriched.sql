{#- One row per order: its lines, payments and refunds rolled up, and its amounts converted
    to the reporting currency at the FX rate of the order date or, on a day without a
    rate, the latest rate before it (an as-of join on rate validity ranges). Amounts stay
    integer cents; each conversion (the order total, each refund) rounds once, half-up,
    on exact integers (macros/money.sql, docs/metrics.md).
    Incremental: a run rebuilds only the orders that changed (the order, or one of its
    lines, payments or refunds, updated since the latest change already built minus var
    incremental_lookback_days) and those whose FX rate was restated, and replaces those
    that differ from the built row by order_id; a post-hook removes the orders deleted at
    the source. A child row deleted
    alone at the source (a line of an order that stays) is caught by the nightly full
    refresh: the shop deletes whole orders. -#}
{{ config(
    materialized='incremental',
    unique_key='order_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ delete_rows_gone_upstream([(ref('stg_shop__orders'), 'order_id')]) }}"
    ]
) }}

with

rates as (
    select * from {{ ref('stg_fx__rates') }}
),

-- each rate holds from its day until the next day with a rate for the same currency; the
-- latest until a date no order reaches, so that the joins below are an equality and a
-- range (a null end, tested with `or ... is null`, made DuckDB join every order with every
-- rate of its currency in nested loops: at scale 10 the whole model took 37 s instead of 21;
-- the orders find their rate by an ASOF join on DuckDB, macros/fx_rate_as_of.sql)
rates_valid as (
    select
        quote_currency_code,
        {{ fx_rate('units_per_base') }} as units_per_base,
        rate_date as valid_from,
        coalesce(
            lead(rate_date) over (
                partition by quote_currency_code
                order by rate_date
            ),
            cast('9999-12-31' as date)
        ) as valid_to
    from rates
),

{% if is_incremental() %}
cutoff as (
    select
        {{ lookback_cutoff(
            'last_changed_at', 'day', 'incremental_lookback_days', 3
        ) }} as changed_since
),

-- the rates the built orders were converted at, one row per currency and day: a few
-- thousand rows to compare with the rates now, where a range join of every built order
-- would sort the whole table
built_rates as (
    select distinct
        currency_code,
        order_date,
        fx_units_per_reporting
    from {{ this }}
    where currency_code != '{{ var("reporting_currency") }}'
),

-- the days and currencies whose rate has been restated since their orders were built
restated_rates as (
    select
        built_rates.currency_code,
        built_rates.order_date
    from built_rates
    left join rates_valid
        on
            built_rates.currency_code = rates_valid.quote_currency_code
            and built_rates.order_date >= rates_valid.valid_from
            and built_rates.order_date < rates_valid.valid_to
    where built_rates.fx_units_per_reporting is distinct from rates_valid.units_per_base
),

changed_orders as (
    select order_id from {{ ref('stg_shop__orders') }}
    where updated_at >= (select cutoff.changed_since from cutoff)
    union
    select order_id from {{ ref('stg_shop__order_items') }}
    where updated_at >= (select cutoff.changed_since from cutoff)
    union
    select order_id from {{ ref('stg_shop__payments') }}
    where updated_at >= (select cutoff.changed_since from cutoff)
    union
    select order_id from {{ ref('stg_shop__refunds') }}
    where updated_at >= (select cutoff.changed_since from cutoff)
    union
    select built.order_id
    from {{ this }} as built
    inner join restated_rates
        on
            built.currency_code = restated_rates.currency_code
            and built.order_date = restated_rates.order_date
),
{% endif %}

{%- set only_changed_orders -%}
    {%- if is_incremental() %}
    where order_id in (select changed_orders.order_id from changed_orders)
    {%- endif -%}
{%- endset %}

orders as (
    select * from {{ ref('stg_shop__orders') }}
    {{ only_changed_orders }}
),

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
    {{ only_changed_orders }}
),

payments as (
    select * from {{ ref('stg_shop__payments') }}
    {{ only_changed_orders }}
),

refunds as (
    select * from {{ ref('stg_shop__refunds') }}
    {{ only_changed_orders }}
),

items_per_order as (
    select
        order_id,
        count(*) as item_count,
        cast(sum(quantity) as bigint) as units,
        cast(sum(line_total_cents) as bigint) as items_total_cents,
        max(updated_at) as items_updated_at
    from order_items
    group by order_id
),

payments_per_order as (
    select
        order_id,
        cast(sum(case when is_successful then amount_cents else 0 end) as bigint) as paid_cents,
        cast(sum(case when is_successful then 0 else 1 end) as bigint)
            as failed_payment_attempts,
        max(case when is_successful then payment_method end) as payment_method,
        max(updated_at) as payments_updated_at
    from payments
    group by order_id
),

orders_converted as (
    select
        orders.*,
        case
            when orders.currency_code = '{{ var("reporting_currency") }}'
                then {{ fx_rate(1) }}
            else rates_valid.units_per_base
        end as fx_units_per_reporting
    from orders
    {{ fx_rate_as_of_join('orders', 'rates_valid') }}
),

-- each refund converted and rounded on its own, at its order's rate: a refund is a
-- booking of its own, and the order's refunds in the reporting currency are their sum
refunds_per_order as (
    select
        refunds.order_id,
        count(*) as refund_count,
        cast(sum(refunds.amount_cents) as bigint) as refunded_cents,
        cast(sum(
            {{ convert_cents('refunds.amount_cents', 'orders_converted.fx_units_per_reporting') }}
        ) as bigint) as refunded_reporting_cents,
        max(refunds.updated_at) as refunds_updated_at
    from refunds
    inner join orders_converted
        on refunds.order_id = orders_converted.order_id
    group by refunds.order_id
),

converted as (
    select
        *,
        {{ convert_cents('order_total_cents', 'fx_units_per_reporting') }}
            as order_total_reporting_cents
    from orders_converted
),

final as (
    select
        orders_converted.order_id,
        orders_converted.customer_id,
        orders_converted.merchant_id,
        orders_converted.order_status,
        orders_converted.currency_code,
        orders_converted.ordered_at,
        orders_converted.order_date,
        orders_converted.order_total_cents,
        orders_converted.order_total,
        coalesce(payments_per_order.paid_cents, 0) as paid_cents,
        coalesce(payments_per_order.failed_payment_attempts, 0) as failed_payment_attempts,
        payments_per_order.payment_method,
        orders_converted.fx_units_per_reporting,
        orders_converted.order_total_reporting_cents,
        {{ cents_to_amount('orders_converted.order_total_reporting_cents') }}
            as order_total_reporting,
        coalesce(items_per_order.item_count, 0) as item_count,
        coalesce(items_per_order.units, 0) as units,
        coalesce(items_per_order.items_total_cents, 0) as items_total_cents,
        coalesce(refunds_per_order.refund_count, 0) as refund_count,
        coalesce(refunds_per_order.refunded_cents, 0) as refunded_cents,
        coalesce(refunds_per_order.refunded_reporting_cents, 0) as refunded_reporting_cents,
        {{ cents_to_amount('coalesce(refunds_per_order.refunded_reporting_cents, 0)') }}
            as refunded_reporting,
        orders_converted.updated_at,
        -- the latest change of the order or of any of its lines, payments and refunds:
        -- the cursor of incremental models built on orders
        greatest(
            orders_converted.updated_at,
            coalesce(items_per_order.items_updated_at, orders_converted.updated_at),
            coalesce(payments_per_order.payments_updated_at, orders_converted.updated_at),
            coalesce(refunds_per_order.refunds_updated_at, orders_converted.updated_at)
        ) as last_changed_at
    from converted as orders_converted
    left join items_per_order
        on orders_converted.order_id = items_per_order.order_id
    left join payments_per_order
        on orders_converted.order_id = payments_per_order.order_id
    left join refunds_per_order
        on orders_converted.order_id = refunds_per_order.order_id
)

{%- if is_incremental() %},
{#- every column but the key and the invocation: a new column must be added here, or the
    build stops (checked against the built table) -#}
{%- set compared = [
    'customer_id', 'merchant_id', 'order_status', 'currency_code', 'ordered_at',
    'order_date', 'order_total_cents', 'order_total', 'paid_cents',
    'failed_payment_attempts', 'payment_method', 'fx_units_per_reporting',
    'order_total_reporting_cents', 'order_total_reporting', 'item_count', 'units',
    'items_total_cents', 'refund_count', 'refunded_cents', 'refunded_reporting_cents',
    'refunded_reporting', 'updated_at', 'last_changed_at'
] %}

{#- only the orders that differ from the built row: the lookback window re-reads orders
    that did not change (at scale 10 about four times the change set) -#}
written as (
    {{ rows_that_differ(
        'final', 'order_id', compared, ignored=['_dbt_invocation_id'],
        built_filter='order_id in (select changed_orders.order_id from changed_orders)'
    ) }}
)
{%- endif %}

select
    *,
    {{ loaded_by_this_invocation() }}
from {{ 'written' if is_incremental() else 'final' }}
