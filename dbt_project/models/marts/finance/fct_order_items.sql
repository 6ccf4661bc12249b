{#- One row per order line (gold). The order's total in the reporting currency, and its
    refunds, are allocated to its lines in proportion to their totals by the largest
    remainder method (ties to the lower order_item_id; macros/money.sql), so the lines of
    an order add up to its order_total_reporting and refunded_reporting exactly.
    Incremental as fct_orders is: a run reallocates all the lines of every order
    int_orders_enriched changed (on DuckDB its change feed since this model's last build;
    on PostgreSQL the orders it rewrote in the same invocation or changed since the latest
    change already loaded minus var incremental_lookback_days), replacing every line of
    those orders (delete+insert by order_id: a line gone from staging goes with its
    order's). A post-hook removes the lines of orders gone: on DuckDB the orders the feed
    has and int_orders_enriched no longer holds, on PostgreSQL every line missing from
    staging or int_orders_enriched (macros/delete_rows_gone_upstream.sql). -#}
{{ config(
    materialized='incremental',
    unique_key='order_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ delete_gone_from_feed(ref('int_orders_enriched'), 'order_id', ["
        ~ "(ref('stg_shop__order_items'), 'order_item_id'),"
        ~ " (ref('int_orders_enriched'), 'order_id')"
        ~ "]) }}"
    ]
) }}

with

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
    {% if is_incremental() %}
        where {{ rows_changed_upstream(
            ref('int_orders_enriched'), 'order_id',
            written_upstream_or_changed_since('last_changed_at', 'last_changed_at')
        ) }}
    {% endif %}
),

lines as (
    select
        order_items.order_item_id,
        order_items.order_id,
        order_items.product_id,
        orders.merchant_id,
        orders.customer_id,
        orders.order_status,
        orders.currency_code,
        orders.ordered_at,
        orders.order_date,
        order_items.quantity,
        order_items.unit_price_cents,
        order_items.unit_price,
        order_items.line_total_cents,
        order_items.line_total,
        order_items.updated_at,
        orders.order_total_reporting_cents,
        orders.refunded_reporting_cents,
        orders.last_changed_at
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
),

-- the order's gross total, then its refunds, split over its lines by line total
gross_allocated as (
    {{ allocate_largest_remainder(
        'lines', 'order_total_reporting_cents', 'line_total_cents',
        'order_id', 'order_item_id', 'line_total_reporting_cents'
    ) }}
),

refunds_allocated as (
    {{ allocate_largest_remainder(
        'gross_allocated', 'refunded_reporting_cents', 'line_total_cents',
        'order_id', 'order_item_id', 'line_refunded_reporting_cents'
    ) }}
),

final as (
    select
        order_item_id,
        order_id,
        product_id,
        merchant_id,
        customer_id,
        order_status,
        order_status = 'cancelled' as is_cancelled,
        currency_code,
        ordered_at,
        order_date,
        quantity,
        unit_price_cents,
        cast(unit_price as decimal(18, 2)) as unit_price,
        line_total_cents,
        cast(line_total as decimal(18, 2)) as line_total,
        {{ cents_to_amount('line_total_reporting_cents') }} as line_total_reporting,
        {{ cents_to_amount('line_refunded_reporting_cents') }} as line_refunded_reporting,
        {{ cents_to_amount('line_total_reporting_cents - line_refunded_reporting_cents') }}
            as line_net_reporting,
        updated_at,
        last_changed_at
    from refunds_allocated
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
