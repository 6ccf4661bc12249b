{#- Each customer's orders in sequence (orders placed and not cancelled, as in
    customer_lifetime_value): the order's number for the customer, the days since the
    previous one and the cohort (month of the first order). Ties on the same time are
    ordered by order id.
    On DuckDB an incremental build sequences again only the customers with an order in
    int_orders_enriched's change feed since its last build (macros/change_feed.sql;
    the feed has an order's customer before and after a change), and replaces every row
    of those customers; a customer left with no order gets one empty row (the last
    select), so that the merge deletes the customer's rows, and the post-hook deletes it
    in the same transaction. -#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    unique_key='customer_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook=["{{ delete_emptied_groups('order_id is null') }}"]
) }}
{%- set plan = change_feed_plan([ref('int_orders_enriched')]) %}

with
{% if plan.mode == 'delta' %}
changed_customers as (
    {{ changed_keys(plan, [ref('int_orders_enriched')], 'customer_id') }}
),
{% elif plan.mode == 'rebuild' %}
changed_customers as (
    select customer_id from {{ this }}
    union
    select customer_id from {{ ref('int_orders_enriched') }}
    where customer_id is not null
),
{% endif %}
{%- set only_changed_customers -%}
    {%- if plan.mode == 'delta' %}
        and customer_id in (select changed_customers.customer_id from changed_customers)
    {%- endif -%}
{%- endset %}
orders as (
    -- only the columns kept: a window carries every column of its input through its sort
    select
        order_id,
        customer_id,
        merchant_id,
        order_status,
        ordered_at,
        order_date,
        order_total_reporting
    from {{ ref('int_orders_enriched') }}
    where
        order_status != 'cancelled'
        and customer_id is not null
    {{ only_changed_customers }}
),

sequenced as (
    select
        order_id,
        customer_id,
        merchant_id,
        order_status,
        ordered_at,
        order_date,
        order_total_reporting,
        row_number() over (
            partition by customer_id
            order by ordered_at, order_id
        ) as customer_order_number,
        lag(ordered_at) over (
            partition by customer_id
            order by ordered_at, order_id
        ) as previous_ordered_at,
        min(ordered_at) over (partition by customer_id) as first_ordered_at,
        count(*) over (partition by customer_id) as customer_order_count
    from orders
),

final as (
    select
        order_id,
        customer_id,
        merchant_id,
        order_status,
        ordered_at,
        order_date,
        order_total_reporting,
        cast(customer_order_number as bigint) as customer_order_number,
        cast(customer_order_count as bigint) as customer_order_count,
        customer_order_number = 1 as is_first_order,
        previous_ordered_at,
        cast({{ dbt.datediff(
            'previous_ordered_at',
            'ordered_at',
            'day'
        ) }} as bigint) as days_since_previous_order,
        first_ordered_at,
        cast({{ dbt.date_trunc('month', 'first_ordered_at') }} as date) as cohort_month,
        cast(
            {{ dbt.datediff(
                dbt.date_trunc('month', 'first_ordered_at'),
                dbt.date_trunc('month', 'ordered_at'),
                'month'
            ) }} as bigint
        ) as months_since_first_order
    from sequenced
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
{%- if plan.mode != 'full' %}
    union all by name
    select changed_customers.customer_id
    from changed_customers
    where not exists (
        select 1 from orders
        where orders.customer_id = changed_customers.customer_id
    )
{%- endif %}
