{#- Orders per day and buyer country, cancelled orders excluded: the order count and
    the gross, refunded and net revenue in the reporting currency. Every column adds up
    over days and countries (one order is one row's order). -#}
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
        cast(sum(units) as bigint) as units,
        cast(sum(order_total_reporting) as decimal(18, 2)) as gross_revenue_reporting,
        cast(sum(refunded_reporting) as decimal(18, 2)) as refunded_reporting,
        cast(sum(net_total_reporting) as decimal(18, 2)) as net_revenue_reporting
    from orders
    group by order_date, customer_country_code
)

select * from final
