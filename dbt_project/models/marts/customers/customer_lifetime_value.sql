{#- What each customer is worth so far: orders, revenue in the reporting currency,
    average order value, first and last order and how long they have been buying. -#}
with

customers as (
    select * from {{ ref('dim_customers') }}
    where is_current
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
        customers.country_code,
        customers.signed_up_at,
        orders_per_customer.first_ordered_at,
        orders_per_customer.last_ordered_at,
        coalesce(orders_per_customer.order_count, 0) as order_count,
        cast(
            coalesce(orders_per_customer.lifetime_revenue_reporting, 0) as decimal(18, 2)
        ) as lifetime_revenue_reporting,
        cast(
            orders_per_customer.lifetime_revenue_reporting
            / nullif(orders_per_customer.order_count, 0) as decimal(18, 2)
        ) as average_order_value_reporting,
        -- datediff is an integer on PostgreSQL, a bigint on DuckDB: one type for the contract
        cast({{ dbt.datediff(
            'orders_per_customer.first_ordered_at',
            'orders_per_customer.last_ordered_at',
            'day'
        ) }} as bigint) as lifespan_days,
        coalesce(orders_per_customer.order_count, 0) > 1 as is_repeat_customer
    from customers
    left join orders_per_customer
        on customers.customer_id = orders_per_customer.customer_id
)

select * from final
