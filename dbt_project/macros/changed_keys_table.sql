{#- The keys a delta build recomputes (macros/change_feed.sql), kept in a temporary table
    of the model by its pre-hook, which the model reads as changed_keys_table(key). Read
    from a table, their count is exact, so DuckDB hashes these few keys and probes the
    large input with them. From a CTE over the change feed it took them for as many as
    the input's rows and hashed the input instead: at scale 10, 0.6 to 0.7 s per read of
    fct_orders or int_orders_enriched (docs/dbt.md). -#}

{#- The distinct `key`s of the rows the DuckLake tables `feeds` changed since the model's
    last build. Nothing on another plan: the model then reads no such table. -#}
{%- macro stage_changed_keys(feeds, key) -%}
    {%- set plan = change_feed_plan(feeds) -%}
    {%- if plan.mode == 'delta' -%}
        create or replace temporary table {{ changed_keys_table(key) }} as
        {{ changed_keys(plan, feeds, key) }}
    {%- endif -%}
{%- endmacro -%}

{#- The revenue aggregates' (daily_revenue, sales_by_region_product): the orders in
    fct_orders' or fct_order_items' feed and, with `product_columns`, those with a line of
    a product whose columns changed in dim_products. -#}
{%- macro stage_changed_orders(product_columns=[]) -%}
    {%- set facts = [ref('fct_orders'), ref('fct_order_items')] -%}
    {%- set plan = change_feed_plan(facts) -%}
    {%- if plan.mode == 'delta' -%}
        create or replace temporary table {{ changed_keys_table('order_id') }} as
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

{#- The name of that table: one per model and key, in the connection's temporary schema. -#}
{%- macro changed_keys_table(key) -%}
    {{- adapter.quote(this.identifier ~ '__changed_' ~ key) -}}
{%- endmacro -%}
