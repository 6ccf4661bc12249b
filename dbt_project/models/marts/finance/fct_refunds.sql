{#- One row per refund (gold), converted to the reporting currency at the rate of its
    order (the order date's), so a full refund cancels its order's revenue exactly. -#}
with

refunds as (
    select * from {{ ref('stg_shop__refunds') }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
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
        cast(
            refunds.amount / orders.fx_units_per_reporting as decimal(18, 2)
        ) as amount_reporting,
        refunds.refunded_at,
        refunds.refund_date,
        refunds.updated_at
    from refunds
    inner join orders
        on refunds.order_id = orders.order_id
)

select * from final
