{#- What each customer is worth so far: orders, gross and net revenue in the reporting
    currency, average order value (gross revenue / orders, rounded once, half-up, on
    exact cents), first and last order and how long they have been buying. -#}
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
        sum(order_total_reporting_cents) as revenue_cents,
        sum(refunded_reporting_cents) as refunded_cents,
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
        {{ cents_to_amount('coalesce(orders_per_customer.revenue_cents, 0)') }}
            as lifetime_revenue_reporting,
        {{ cents_to_amount(
            'coalesce(orders_per_customer.revenue_cents - orders_per_customer.refunded_cents, 0)'
        ) }} as lifetime_net_revenue_reporting,
        -- null without orders (the division is never reached with a zero count)
        case
            when orders_per_customer.order_count > 0
                then {{ cents_to_amount(divide_round_half_up(
                    'orders_per_customer.revenue_cents', 'orders_per_customer.order_count'
                )) }}
        end as average_order_value_reporting,
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
