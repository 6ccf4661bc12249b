{#- One row per payment attempt (gold), converted to the reporting currency at the rate
    of its order (the order date's), so payments and orders reconcile. -#}
with

payments as (
    select * from {{ ref('stg_shop__payments') }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
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
        cast(
            payments.amount / orders.fx_units_per_reporting as decimal(18, 2)
        ) as amount_reporting,
        payments.paid_at,
        cast(payments.paid_at as date) as paid_date,
        payments.updated_at
    from payments
    inner join orders
        on payments.order_id = orders.order_id
)

select * from final
