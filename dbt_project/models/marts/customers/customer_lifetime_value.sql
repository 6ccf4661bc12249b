{#- What each customer is worth so far: orders, gross and net revenue in the reporting
    currency, average order value (gross revenue / orders, rounded once, half-up, on
    exact cents), first and last order and how long they have been buying.
    On DuckDB an incremental build recomputes only the customers with an order in
    int_orders_enriched's change feed since its last build (an order's customer before
    and after a change) and those with a version in dim_customers' feed (it writes only
    the versions that changed: a new current one, a closed one), replacing their rows
    (macros/change_feed.sql; the pre-hook lists them, macros/changed_keys_table.sql); a
    customer reached who is no longer current gets an empty row (the last select), which
    the merge puts in place of theirs and the post-hook deletes in the same
    transaction. -#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    unique_key='customer_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook=[
        "{{ stage_changed_keys("
        ~ "[ref('int_orders_enriched'), ref('dim_customers')], 'customer_id'"
        ~ ") }}"
    ],
    post_hook=["{{ delete_emptied_groups('order_count is null') }}"]
) }}
{%- set feeds = [ref('int_orders_enriched'), ref('dim_customers')] %}
{%- set plan = change_feed_plan(feeds) %}

with
{% if plan.mode == 'delta' %}
-- listed by the pre-hook (macros/changed_keys_table.sql)
changed_customers as (
    select customer_id from {{ changed_keys_table('customer_id') }}
),
{% elif plan.mode == 'rebuild' %}
changed_customers as (
    select customer_id from {{ this }}
    union
    select customer_id from {{ ref('dim_customers') }}
    where is_current
),
{% endif %}
{%- set only_changed_customers -%}
    {%- if plan.mode == 'delta' %}
        and customer_id in (select changed_customers.customer_id from changed_customers)
    {%- endif -%}
{%- endset %}

customers as (
    select * from {{ ref('dim_customers') }}
    where is_current {{ only_changed_customers }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
    where order_status != 'cancelled' {{ only_changed_customers }}
),

orders_per_customer as (
    select
        customer_id,
        count(*) as order_count,
        sum(order_total_reporting_cents) as revenue_cents,
        sum(refunded_reporting_cents) as refunded_cents,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at
    from orders
    group by customer_id
),

final as (
    select
        customers.customer_id,
        customers.country_code,
        customers.signed_up_at,
        orders_per_customer.first_ordered_at,
        orders_per_customer.last_ordered_at,
        coalesce(orders_per_customer.order_count, 0) as order_count,
        {{ cents_to_amount('coalesce(orders_per_customer.revenue_cents, 0)') }}
            as lifetime_revenue_reporting,
        {{ cents_to_amount(
            'coalesce(orders_per_customer.revenue_cents - orders_per_customer.refunded_cents, 0)'
        ) }} as lifetime_net_revenue_reporting,
        -- null without orders (the division is never reached with a zero count)
        case
            when orders_per_customer.order_count > 0
                then {{ cents_to_amount(divide_round_half_up(
                    'orders_per_customer.revenue_cents', 'orders_per_customer.order_count'
                )) }}
        end as average_order_value_reporting,
        -- datediff is an integer on PostgreSQL, a bigint on DuckDB: one type for the contract
        cast({{ dbt.datediff(
            'orders_per_customer.first_ordered_at',
            'orders_per_customer.last_ordered_at',
            'day'
        ) }} as bigint) as lifespan_days,
        coalesce(orders_per_customer.order_count, 0) > 1 as is_repeat_customer
    from customers
    left join orders_per_customer
        on customers.customer_id = orders_per_customer.customer_id
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
{%- if plan.mode != 'full' %}
union all
-- the customers reached who are no longer current (deleted at the source)
select
    changed_customers.customer_id,
    null as country_code,
    null as signed_up_at,
    null as first_ordered_at,
    null as last_ordered_at,
    null as order_count,
    null as lifetime_revenue_reporting,
    null as lifetime_net_revenue_reporting,
    null as average_order_value_reporting,
    null as lifespan_days,
    null as is_repeat_customer,
    {{ loaded_by_this_invocation() }}
from changed_customers
where changed_customers.customer_id not in (select customers.customer_id from customers)
{%- endif %}
