with

customers as (
    select * from {{ ref('stg_shop__customers') }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
    where order_status != 'cancelled'
),

orders_per_customer as (
    select
        customer_id,
        count(*) as order_count,
        sum(order_total_reporting) as lifetime_revenue_reporting,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at
    from orders
    group by customer_id
),

final as (
    select
        customers.customer_id,
        customers.email,
        customers.first_name,
        customers.last_name,
        customers.country_code,
        customers.signed_up_at,
        orders_per_customer.first_ordered_at,
        orders_per_customer.last_ordered_at,
        coalesce(orders_per_customer.order_count, 0) as order_count,
        coalesce(orders_per_customer.lifetime_revenue_reporting, 0) as lifetime_revenue_reporting
    from customers
    left join orders_per_customer
        on customers.customer_id = orders_per_customer.customer_id
)

select * from final
