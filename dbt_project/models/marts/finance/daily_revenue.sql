{#- Revenue per day, buyer country and product category in the reporting currency,
    cancelled orders excluded: gross, refunded and net. Each order's amounts are split
    over its lines (fct_order_items, largest remainder), so every money column and units
    add up over days, countries and categories to the orders' totals; an order without
    lines counts whole under the category 'unknown'. orders_with_category_count does not
    add up over categories (an order with lines in two categories is in both): orders per
    day and country are in daily_orders.
    On DuckDB an incremental build applies the change of the orders that changed since
    its last build (macros/change_feed.sql; the pre-hook lists them,
    macros/changed_keys_table.sql): a change set's new orders and refunds touch a few
    days, not the year. -#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    unique_key=['order_date', 'country_code', 'product_category'],
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook=["{{ stage_changed_orders(['product_category']) }}"],
    post_hook=["{{ delete_emptied_groups('orders_with_category_count = 0') }}"]
) }}
{%- set plan = change_feed_plan([ref('fct_orders'), ref('fct_order_items')]) %}
{%- set delta = plan.mode == 'delta' %}

with
{%- for state in feed_states(plan) %}
    orders_{{ state.name }} as (
        select * from {{ at_snapshot(ref('fct_orders'), state.version) }}
        where
            not is_cancelled
        {%- if delta %}
            and order_id in (
                select changed.order_id from {{ changed_keys_table('order_id') }} as changed
            )
        {%- endif %}
    ),

    order_lines_{{ state.name }} as (
        select
        {%- if delta %}
            {{ state.sign }} as sign,
        {%- endif %}
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
        from orders_{{ state.name }} as orders
        left join {{ at_snapshot(ref('fct_order_items'), state.version, 'order_items') }}
            on orders.order_id = order_items.order_id
        left join {{ at_snapshot(ref('dim_products'), state.version, 'products') }}
            on order_items.product_id = products.product_id
    ),
{% endfor %}
{%- if delta %}
order_lines as (
    select * from order_lines_now
    union all
    select * from order_lines_before
),

{#- the change of each group: the changed orders' rows now less the same orders' rows
    then; a count of distinct orders subtracts too, since an order is in one group -#}
changes as (
    select
        order_date,
        customer_country_code as country_code,
        product_category,
        {{ net_count_distinct('order_id') }} as orders_with_category_count,
        sum(sign * units) as units,
        sum(sign * gross_revenue_reporting) as gross_revenue_reporting,
        sum(sign * refunded_reporting) as refunded_reporting
    from order_lines
    group by order_date, customer_country_code, product_category
),

grouped as (
    select
        changes.order_date,
        changes.country_code,
        changes.product_category,
        coalesce(built.orders_with_category_count, 0)
        + changes.orders_with_category_count as orders_with_category_count,
        coalesce(built.units, 0) + changes.units as units,
        coalesce(built.gross_revenue_reporting, 0)
        + changes.gross_revenue_reporting as gross_revenue_reporting,
        coalesce(built.refunded_reporting, 0)
        + changes.refunded_reporting as refunded_reporting
    from changes
    left join {{ this }} as built
        on
            changes.order_date = built.order_date
            and changes.country_code = built.country_code
            and changes.product_category = built.product_category
    where
        changes.orders_with_category_count != 0
        or changes.units != 0
        or changes.gross_revenue_reporting != 0
        or changes.refunded_reporting != 0
),
{%- else %}
    recomputed as (
        select
            order_date,
            customer_country_code as country_code,
            product_category,
            count(distinct order_id) as orders_with_category_count,
            sum(units) as units,
            sum(gross_revenue_reporting) as gross_revenue_reporting,
            sum(refunded_reporting) as refunded_reporting
        from order_lines_now
        group by order_date, customer_country_code, product_category
    ),
    {%- if plan.mode == 'rebuild' %}

{#- every group again, and the built ones no longer found as empty (the post-hook
    deletes them) -#}
grouped as (
    select
        order_date,
        country_code,
        product_category,
        coalesce(recomputed.orders_with_category_count, 0) as orders_with_category_count,
        coalesce(recomputed.units, 0) as units,
        coalesce(recomputed.gross_revenue_reporting, 0) as gross_revenue_reporting,
        coalesce(recomputed.refunded_reporting, 0) as refunded_reporting
    from recomputed
    full join {{ this }} as built using (order_date, country_code, product_category)
),
{%- else %}

        grouped as (
            select * from recomputed
        ),
    {%- endif %}
{%- endif %}

final as (
    select
        order_date,
        country_code,
        product_category,
        orders_with_category_count,
        cast(units as bigint) as units,
        cast(gross_revenue_reporting as decimal(18, 2)) as gross_revenue_reporting,
        cast(refunded_reporting as decimal(18, 2)) as refunded_reporting,
        cast(
            gross_revenue_reporting - refunded_reporting as decimal(18, 2)
        ) as net_revenue_reporting,
        cast(extract(year from order_date) as integer) as order_year,
        cast(extract(month from order_date) as integer) as order_month
    from grouped
)

select * from final
