{#- Each customer's orders in sequence (orders placed and not cancelled, as in
    customer_lifetime_value): the order's number for the customer, the days since the
    previous one and the cohort (month of the first order). Ties on the same time are
    ordered by order id. -#}
with

orders as (
    -- only the columns kept: a window carries every column of its input through its sort
    select
        order_id,
        customer_id,
        merchant_id,
        order_status,
        ordered_at,
        order_date,
        order_total_reporting
    from {{ ref('int_orders_enriched') }}
    where
        order_status != 'cancelled'
        and customer_id is not null
),

sequenced as (
    select
        order_id,
        customer_id,
        merchant_id,
        order_status,
        ordered_at,
        order_date,
        order_total_reporting,
        row_number() over (
            partition by customer_id
            order by ordered_at, order_id
        ) as customer_order_number,
        lag(ordered_at) over (
            partition by customer_id
            order by ordered_at, order_id
        ) as previous_ordered_at,
        min(ordered_at) over (partition by customer_id) as first_ordered_at,
        count(*) over (partition by customer_id) as customer_order_count
    from orders
),

final as (
    select
        order_id,
        customer_id,
        merchant_id,
        order_status,
        ordered_at,
        order_date,
        order_total_reporting,
        cast(customer_order_number as bigint) as customer_order_number,
        cast(customer_order_count as bigint) as customer_order_count,
        customer_order_number = 1 as is_first_order,
        previous_ordered_at,
        cast({{ dbt.datediff(
            'previous_ordered_at',
            'ordered_at',
            'day'
        ) }} as bigint) as days_since_previous_order,
        first_ordered_at,
        cast({{ dbt.date_trunc('month', 'first_ordered_at') }} as date) as cohort_month,
        cast(
            {{ dbt.datediff(
                dbt.date_trunc('month', 'first_ordered_at'),
                dbt.date_trunc('month', 'ordered_at'),
                'month'
            ) }} as bigint
        ) as months_since_first_order
    from sequenced
)

select * from final
