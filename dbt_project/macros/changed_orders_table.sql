{#- The orders whose lines a delta build of a revenue aggregate (daily_revenue,
    sales_by_region_product) takes again, kept in a temporary table of the model by its
    pre-hook: those fct_orders' or fct_order_items' change feed has since the model's last
    build (macros/change_feed.sql) and, with `product_columns`, those with a line of a
    product whose columns changed. Read from a table, their count is exact, so DuckDB
    hashes these few orders and probes fct_orders with them. From a CTE over the change
    feed it took them for as many as fct_orders' rows and hashed fct_orders instead: at
    scale 10, 0.6 to 0.7 s per read, twice per model (docs/dbt.md). -#}
{%- macro stage_changed_orders(product_columns=[]) -%}
    {%- set facts = [ref('fct_orders'), ref('fct_order_items')] -%}
    {%- set plan = change_feed_plan(facts) -%}
    {%- if plan.mode == 'delta' -%}
        create or replace temporary table {{ changed_orders_table() }} as
        {{ changed_keys(plan, facts, 'order_id') }}
        {%- if product_columns %}
        union
        select order_id from {{ ref('fct_order_items') }}
        where product_id in (
            {{ changed_since_plan(plan, ref('dim_products'), 'product_id', product_columns) }}
        )
        {%- endif %}
    {%- endif -%}
{%- endmacro -%}

{#- The name of that table: one per model, in the connection's temporary schema. -#}
{%- macro changed_orders_table() -%}
    {{- adapter.quote(this.identifier ~ '__changed_orders') -}}
{%- endmacro -%}
