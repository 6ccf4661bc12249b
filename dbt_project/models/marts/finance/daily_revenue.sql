{{ config(options={
    'partition_by': 'order_year, order_month',
    'compression': 'zstd',
    'overwrite_or_ignore': true
}) }}

with

orders as (
    select * from {{ ref('fct_orders') }}
    where not is_cancelled
),

final as (
    select
        order_date,
        customer_country_code as country_code,
        count(*) as order_count,
        sum(order_total_reporting) as revenue_reporting,
        cast(extract(year from order_date) as integer) as order_year,
        cast(extract(month from order_date) as integer) as order_month
    from orders
    group by order_date, customer_country_code
)

select * from final
