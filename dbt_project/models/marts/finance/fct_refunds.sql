{#- One row per refund (gold), converted to the reporting currency at the rate of its
    order (the order date's), so a full refund cancels its order's revenue exactly.
    Incremental: a run re-reads the refunds of the orders int_orders_enriched changed
    (on DuckDB its change feed since this model's last build, macros/change_feed.sql; on
    PostgreSQL the orders it rewrote in the same invocation, or changed within var
    incremental_lookback_days of the newest change loaded, for a run of this model
    alone) and replaces every refund of those orders (delete+insert by order_id); a
    post-hook removes the refunds of orders gone (macros/delete_rows_gone_upstream.sql:
    on PostgreSQL, every refund missing from staging). -#}
{{ config(
    materialized='incremental',
    unique_key='order_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ delete_gone_from_feed(ref('int_orders_enriched'), 'order_id', ["
        ~ "(ref('stg_shop__refunds'), 'refund_id'),"
        ~ " (ref('int_orders_enriched'), 'order_id')"
        ~ "]) }}"
    ]
) }}

with

refunds as (
    select * from {{ ref('stg_shop__refunds') }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
    {% if is_incremental() %}
        where {{ rows_changed_upstream(
            ref('int_orders_enriched'), 'order_id',
            written_upstream_or_changed_since('last_changed_at', 'order_last_changed_at')
        ) }}
    {% endif %}
),

final as (
    select
        refunds.refund_id,
        refunds.payment_id,
        refunds.order_id,
        orders.customer_id,
        orders.merchant_id,
        refunds.refund_reason,
        refunds.currency_code,
        refunds.amount_cents,
        cast(refunds.amount as decimal(18, 2)) as amount,
        {{ cents_to_amount(
            convert_cents('refunds.amount_cents', 'orders.fx_units_per_reporting')
        ) }} as amount_reporting,
        refunds.refunded_at,
        refunds.refund_date,
        refunds.updated_at,
        orders.last_changed_at as order_last_changed_at
    from refunds
    inner join orders
        on refunds.order_id = orders.order_id
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
