with

orders as (
    select * from {{ ref('int_orders_enriched') }}
),

customers as (
    select * from {{ ref('stg_shop__customers') }}
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        orders.merchant_id,
        customers.country_code as customer_country_code,
        orders.order_status,
        orders.order_status = 'cancelled' as is_cancelled,
        orders.currency_code,
        orders.ordered_at,
        orders.order_date,
        orders.order_total_cents,
        orders.order_total,
        orders.order_total_reporting,
        orders.paid_cents,
        orders.failed_payment_attempts,
        orders.payment_method
    from orders
    left join customers
        on orders.customer_id = customers.customer_id
)

select * from final
