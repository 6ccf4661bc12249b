{#- Every event a fraud team counts, one row each, with the customer and the merchant it
    belongs to and its amount in the reporting currency (at the order date's rate, as in
    the finance facts): successful payments, failed payment attempts, refunds and
    disputes (chargebacks). An event belongs to the customer and the merchant of its
    order. int_risk_features reads it per customer and per merchant. -#}
with

payments as (
    select * from {{ ref('stg_shop__payments') }}
),

refunds as (
    select * from {{ ref('stg_shop__refunds') }}
),

disputes as (
    select * from {{ ref('stg_shop__disputes') }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
),

events as (
    select
        case when is_successful then 'payment' else 'failed_payment' end as event_type,
        payment_id as event_id,
        payment_id,
        order_id,
        paid_at as event_at,
        amount
    from payments
    union all
    select
        'refund' as event_type,
        refund_id as event_id,
        payment_id,
        order_id,
        refunded_at as event_at,
        amount
    from refunds
    union all
    select
        'dispute' as event_type,
        dispute_id as event_id,
        payment_id,
        order_id,
        opened_at as event_at,
        amount
    from disputes
),

final as (
    select
        events.event_type,
        events.event_id,
        events.payment_id,
        events.order_id,
        orders.customer_id,
        orders.merchant_id,
        events.event_at,
        cast(events.amount / orders.fx_units_per_reporting as decimal(18, 2))
            as amount_reporting
    from events
    inner join orders
        on events.order_id = orders.order_id
)

select * from final
