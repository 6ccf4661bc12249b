{#- One row per order line (gold). The order's total in the reporting currency is
    allocated to its lines in proportion to their totals, rounded to cents; the largest
    line takes the rounding remainder, so the lines of an order add up to the order's
    order_total_reporting exactly.
    Incremental as fct_orders is: a run reallocates all the lines of every order
    int_orders_enriched rewrote in the same invocation or changed (its last_changed_at: the
    order or any of its lines, payments and refunds) since the latest change already loaded
    minus var incremental_lookback_days, replacing them by order_item_id; a post-hook
    removes the lines gone from staging. -#}
{{ config(
    materialized='incremental',
    unique_key='order_item_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ delete_rows_gone_upstream(["
        ~ "(ref('stg_shop__order_items'), 'order_item_id'),"
        ~ " (ref('int_orders_enriched'), 'order_id')"
        ~ "]) }}",
        "{{ export_to_lake() }}"
    ]
) }}

with

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
    {% if is_incremental() %}
        where {{ written_upstream_or_changed_since('last_changed_at', 'last_changed_at') }}
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
        orders.order_total_reporting,
        orders.last_changed_at,
        cast(
            case
                when orders.items_total_cents > 0
                    then
                        orders.order_total_reporting * order_items.line_total_cents
                        / orders.items_total_cents
                else orders.order_total_reporting / orders.item_count
            end
            as decimal(18, 2)
        ) as line_share_reporting
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
),

ranked as (
    -- one window (one sort) for both: the rank of the line in its order, and the sum of
    -- the order's shares
    select
        *,
        row_number() over order_lines as line_rank,
        sum(line_share_reporting) over order_lines as order_shares_total
    from lines
    window order_lines as (
        partition by order_id
        order by line_total_cents desc, order_item_id asc
        rows between unbounded preceding and unbounded following
    )
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
        cast(
            case
                when line_rank = 1
                    then
                        order_total_reporting
                        - (order_shares_total - line_share_reporting)
                else line_share_reporting
            end
            as decimal(18, 2)
        ) as line_total_reporting,
        updated_at,
        last_changed_at
    from ranked
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
