{#- Sales per product and buyer country (the region), cancelled orders excluded: orders,
    units and revenue in the reporting currency. -#}
with

orders as (
    select * from {{ ref('fct_orders') }}
    where not is_cancelled
),

order_items as (
    select * from {{ ref('fct_order_items') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

sales as (
    select
        order_items.product_id,
        orders.customer_country_code as country_code,
        count(distinct order_items.order_id) as order_count,
        cast(sum(order_items.quantity) as bigint) as units,
        cast(sum(order_items.line_total_reporting) as decimal(18, 2)) as revenue_reporting
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
    group by order_items.product_id, orders.customer_country_code
),

final as (
    select
        sales.product_id,
        sales.country_code,
        products.product_name,
        products.product_category,
        products.merchant_id,
        sales.order_count,
        sales.units,
        sales.revenue_reporting
    from sales
    left join products
        on sales.product_id = products.product_id
)

select * from final
