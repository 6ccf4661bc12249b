{{ config(options={
    'partition_by': 'order_year, order_month',
    'compression': 'zstd',
    ('overwrite_or_ignore' if target.name == 'duckdb_s3' else 'overwrite'): true
}) }}

{#- Revenue per day, buyer country and product category in the reporting currency,
    cancelled orders excluded: gross, refunded and net. Each order's amounts are split
    over its lines (fct_order_items, largest remainder), so every money column and units
    add up over days, countries and categories to the orders' totals; an order without
    lines counts whole under the category 'unknown'. orders_with_category_count does not
    add up over categories (an order with lines in two categories is in both): orders per
    day and country are in daily_orders. -#}
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

order_lines as (
    select
        orders.order_id,
        orders.order_date,
        orders.customer_country_code,
        coalesce(products.product_category, 'unknown') as product_category,
        coalesce(order_items.quantity, 0) as units,
        coalesce(
            order_items.line_total_reporting, orders.order_total_reporting
        ) as gross_revenue_reporting,
        coalesce(
            order_items.line_refunded_reporting, orders.refunded_reporting
        ) as refunded_reporting
    from orders
    left join order_items
        on orders.order_id = order_items.order_id
    left join products
        on order_items.product_id = products.product_id
),

final as (
    select
        order_date,
        customer_country_code as country_code,
        product_category,
        count(distinct order_id) as orders_with_category_count,
        cast(sum(units) as bigint) as units,
        cast(sum(gross_revenue_reporting) as decimal(18, 2)) as gross_revenue_reporting,
        cast(sum(refunded_reporting) as decimal(18, 2)) as refunded_reporting,
        cast(
            sum(gross_revenue_reporting) - sum(refunded_reporting) as decimal(18, 2)
        ) as net_revenue_reporting,
        cast(extract(year from order_date) as integer) as order_year,
        cast(extract(month from order_date) as integer) as order_month
    from order_lines
    group by order_date, customer_country_code, product_category
)

select * from final
