{#- One row per payment attempt (gold), converted to the reporting currency at the rate
    of its order (the order date's), so payments and orders reconcile.
    Incremental: a run re-reads the payments of the orders int_orders_enriched changed
    (on DuckDB its change feed since this model's last build, macros/change_feed.sql; on
    PostgreSQL the orders it rewrote in the same invocation, or changed within var
    incremental_lookback_days of the newest change loaded, for a run of this model
    alone) and replaces every payment of those orders (delete+insert by order_id); a
    post-hook removes the payments of orders gone (macros/delete_rows_gone_upstream.sql:
    on PostgreSQL, every payment missing from staging). -#}
{{ config(
    materialized='incremental',
    unique_key='order_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ delete_gone_from_feed(ref('int_orders_enriched'), 'order_id', ["
        ~ "(ref('stg_shop__payments'), 'payment_id'),"
        ~ " (ref('int_orders_enriched'), 'order_id')"
        ~ "]) }}"
    ]
) }}

with

payments as (
    select * from {{ ref('stg_shop__payments') }}
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
        payments.payment_id,
        payments.order_id,
        orders.customer_id,
        orders.merchant_id,
        payments.payment_method,
        payments.payment_status,
        payments.is_successful,
        payments.currency_code,
        payments.amount_cents,
        cast(payments.amount as decimal(18, 2)) as amount,
        {{ cents_to_amount(
            convert_cents('payments.amount_cents', 'orders.fx_units_per_reporting')
        ) }} as amount_reporting,
        payments.paid_at,
        cast(payments.paid_at as date) as paid_date,
        payments.updated_at,
        orders.last_changed_at as order_last_changed_at
    from payments
    inner join orders
        on payments.order_id = orders.order_id
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
