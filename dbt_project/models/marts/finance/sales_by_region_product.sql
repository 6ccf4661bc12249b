{#- Sales per product and buyer country (the region), cancelled orders excluded: units
    and gross, refunded and net revenue in the reporting currency (the lines' shares of
    their orders, so they add up over products and regions), and the orders with the
    product, which do not add up over products (an order of two products is in both). -#}
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
        count(distinct order_items.order_id) as orders_with_product_count,
        cast(sum(order_items.quantity) as bigint) as units,
        cast(sum(order_items.line_total_reporting) as decimal(18, 2)) as gross_revenue_reporting,
        cast(sum(order_items.line_refunded_reporting) as decimal(18, 2)) as refunded_reporting,
        cast(sum(order_items.line_net_reporting) as decimal(18, 2)) as net_revenue_reporting
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
        sales.orders_with_product_count,
        sales.units,
        sales.gross_revenue_reporting,
        sales.refunded_reporting,
        sales.net_revenue_reporting
    from sales
    left join products
        on sales.product_id = products.product_id
)

select * from final
