{#- Sales per product and buyer country (the region), cancelled orders excluded: units
    and gross, refunded and net revenue in the reporting currency (the lines' shares of
    their orders, so they add up over products and regions), and the orders with the
    product, which do not add up over products (an order of two products is in both).
    On DuckDB an incremental build applies the change of the orders that changed since
    its last build (macros/change_feed.sql; the pre-hook lists them,
    macros/changed_keys_table.sql), and takes the product's name,
    category and merchant again where they changed. -#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    unique_key=['product_id', 'country_code'],
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook=["{{ stage_changed_orders() }}"],
    post_hook=["{{ delete_emptied_groups('orders_with_product_count = 0') }}"]
) }}
{%- set plan = change_feed_plan([ref('fct_orders'), ref('fct_order_items')]) %}
{%- set delta = plan.mode == 'delta' %}

with

products as (
    select * from {{ ref('dim_products') }}
),
{% if delta %}
changed_products as (
    {{ changed_since_plan(
        plan, ref('dim_products'), 'product_id',
        ['product_name', 'product_category', 'merchant_id']
    ) }}
),
{% endif %}
{%- for state in feed_states(plan) %}
    order_lines_{{ state.name }} as (
        select
        {%- if delta %}
            {{ state.sign }} as sign,
        {%- endif %}
            order_items.order_id,
            order_items.product_id,
            orders.customer_country_code as country_code,
            order_items.quantity,
            order_items.line_total_reporting,
            order_items.line_refunded_reporting,
            order_items.line_net_reporting
        from {{ at_snapshot(ref('fct_order_items'), state.version, 'order_items') }}
        inner join {{ at_snapshot(ref('fct_orders'), state.version, 'orders') }}
            on order_items.order_id = orders.order_id
        where
            not orders.is_cancelled
        {%- if delta %}
            and orders.order_id in (
                select changed.order_id from {{ changed_keys_table('order_id') }} as changed
            )
        {%- endif %}
    ),
{% endfor %}
{%- if delta %}
order_lines as (
    select * from order_lines_now
    union all
    select * from order_lines_before
),

{#- the change of each group: the changed orders' lines now less the same orders' lines
    then; a count of distinct orders subtracts too, since an order is in one region -#}
changes as (
    select
        product_id,
        country_code,
        {{ net_count_distinct('order_id') }} as orders_with_product_count,
        sum(sign * quantity) as units,
        sum(sign * line_total_reporting) as gross_revenue_reporting,
        sum(sign * line_refunded_reporting) as refunded_reporting,
        sum(sign * line_net_reporting) as net_revenue_reporting
    from order_lines
    group by product_id, country_code
),

{#- the groups whose sums moved, and every group of a product whose attributes changed -#}
touched as (
    select changes.product_id, changes.country_code
    from changes
    where
        changes.orders_with_product_count != 0
        or changes.units != 0
        or changes.gross_revenue_reporting != 0
        or changes.refunded_reporting != 0
        or changes.net_revenue_reporting != 0
    union
    select built.product_id, built.country_code
    from {{ this }} as built
    where built.product_id in (select changed_products.product_id from changed_products)
),

sales as (
    select
        touched.product_id,
        touched.country_code,
        coalesce(built.orders_with_product_count, 0)
        + coalesce(changes.orders_with_product_count, 0) as orders_with_product_count,
        coalesce(built.units, 0) + coalesce(changes.units, 0) as units,
        coalesce(built.gross_revenue_reporting, 0)
        + coalesce(changes.gross_revenue_reporting, 0) as gross_revenue_reporting,
        coalesce(built.refunded_reporting, 0)
        + coalesce(changes.refunded_reporting, 0) as refunded_reporting,
        coalesce(built.net_revenue_reporting, 0)
        + coalesce(changes.net_revenue_reporting, 0) as net_revenue_reporting
    from touched
    left join {{ this }} as built
        on
            touched.product_id = built.product_id
            and touched.country_code = built.country_code
    left join changes
        on
            touched.product_id = changes.product_id
            and touched.country_code = changes.country_code
),
{%- else %}
    recomputed as (
        select
            product_id,
            country_code,
            count(distinct order_id) as orders_with_product_count,
            sum(quantity) as units,
            sum(line_total_reporting) as gross_revenue_reporting,
            sum(line_refunded_reporting) as refunded_reporting,
            sum(line_net_reporting) as net_revenue_reporting
        from order_lines_now
        group by product_id, country_code
    ),
    {%- if plan.mode == 'rebuild' %}

{#- every group again, and the built ones no longer found as empty (the post-hook
    deletes them) -#}
sales as (
    select
        product_id,
        country_code,
        coalesce(recomputed.orders_with_product_count, 0) as orders_with_product_count,
        coalesce(recomputed.units, 0) as units,
        coalesce(recomputed.gross_revenue_reporting, 0) as gross_revenue_reporting,
        coalesce(recomputed.refunded_reporting, 0) as refunded_reporting,
        coalesce(recomputed.net_revenue_reporting, 0) as net_revenue_reporting
    from recomputed
    full join {{ this }} as built using (product_id, country_code)
),
{%- else %}

        sales as (
            select * from recomputed
        ),
    {%- endif %}
{%- endif %}

final as (
    select
        sales.product_id,
        sales.country_code,
        products.product_name,
        products.product_category,
        products.merchant_id,
        sales.orders_with_product_count,
        cast(sales.units as bigint) as units,
        cast(sales.gross_revenue_reporting as decimal(18, 2)) as gross_revenue_reporting,
        cast(sales.refunded_reporting as decimal(18, 2)) as refunded_reporting,
        cast(sales.net_revenue_reporting as decimal(18, 2)) as net_revenue_reporting
    from sales
    left join products
        on sales.product_id = products.product_id
)

select * from final
