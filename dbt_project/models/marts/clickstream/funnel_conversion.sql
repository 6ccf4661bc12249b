{#- The shop funnel per day and country: sessions reaching each step and the conversion
    between consecutive steps. A session reaches a step when it has an event of that step
    and of every step before it (page_view, product_view, add_to_cart, checkout_started,
    purchase), so the counts never grow down the funnel. A session counts on the UTC day
    it starts, in the country of its first event.
    On DuckDB an incremental build recomputes only the days of the events in
    int_clickstream_sessionized's change feed since its last build (a re-sessionized
    event's day before and after; macros/change_feed.sql) and replaces those days
    (delete+insert on session_date); a day reached with no session left gets an empty row,
    which the post-hook deletes. A build with no new event writes nothing. -#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    unique_key='session_date',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook=["{{ delete_emptied_groups('session_count = 0') }}"]
) }}
{%- set plan = change_feed_plan([ref('int_clickstream_sessionized')]) %}

with
{% if plan.mode == 'delta' %}
changed_days as (
    select distinct session_date from (
        {{ changed_rows(plan, ref('int_clickstream_sessionized'), ['session_date']) }}
    ) as changed
),
{% elif plan.mode == 'rebuild' %}
changed_days as (
    select session_date from {{ this }}
    union
    select session_date from {{ ref('int_clickstream_sessionized') }}
),
{% endif %}

events as (
    select * from {{ ref('int_clickstream_sessionized') }}
    {%- if plan.mode == 'delta' %}
        where session_date in (select changed_days.session_date from changed_days)
    {%- endif %}
),

sessions as (
    select
        session_id,
        max(session_date) as session_date,
        max(case when is_session_start then coalesce(country_code, 'ZZ') end) as country_code,
        max(case when event_type = 'page_view' then 1 else 0 end) as has_page_view,
        max(case when event_type = 'product_view' then 1 else 0 end) as has_product_view,
        max(case when event_type = 'add_to_cart' then 1 else 0 end) as has_add_to_cart,
        max(case when event_type = 'checkout_started' then 1 else 0 end) as has_checkout,
        max(case when event_type = 'purchase' then 1 else 0 end) as has_purchase
    from events
    group by session_id
),

steps as (
    select
        session_date,
        country_code,
        has_page_view as reached_page_view,
        has_page_view * has_product_view as reached_product_view,
        has_page_view * has_product_view * has_add_to_cart as reached_add_to_cart,
        has_page_view * has_product_view * has_add_to_cart * has_checkout
            as reached_checkout,
        has_page_view * has_product_view * has_add_to_cart * has_checkout * has_purchase
            as reached_purchase
    from sessions
),

per_day as (
    select
        session_date,
        country_code,
        count(*) as session_count,
        sum(reached_page_view) as page_view_sessions,
        sum(reached_product_view) as product_view_sessions,
        sum(reached_add_to_cart) as add_to_cart_sessions,
        sum(reached_checkout) as checkout_sessions,
        sum(reached_purchase) as purchase_sessions
    from steps
    group by session_date, country_code
),

final as (
    select
        session_date,
        country_code,
        cast(session_count as bigint) as session_count,
        cast(page_view_sessions as bigint) as page_view_sessions,
        cast(product_view_sessions as bigint) as product_view_sessions,
        cast(add_to_cart_sessions as bigint) as add_to_cart_sessions,
        cast(checkout_sessions as bigint) as checkout_sessions,
        cast(purchase_sessions as bigint) as purchase_sessions,
        cast(
            1.0 * product_view_sessions / nullif(page_view_sessions, 0) as decimal(9, 4)
        ) as page_view_to_product_view_rate,
        cast(
            1.0 * add_to_cart_sessions / nullif(product_view_sessions, 0) as decimal(9, 4)
        ) as product_view_to_add_to_cart_rate,
        cast(
            1.0 * checkout_sessions / nullif(add_to_cart_sessions, 0) as decimal(9, 4)
        ) as add_to_cart_to_checkout_rate,
        cast(
            1.0 * purchase_sessions / nullif(checkout_sessions, 0) as decimal(9, 4)
        ) as checkout_to_purchase_rate,
        cast(
            1.0 * purchase_sessions / nullif(session_count, 0) as decimal(9, 4)
        ) as session_conversion_rate
    from per_day
)

select * from final
{%- if plan.mode != 'full' %}
union all
-- the days reached that have no session left: one empty row each, in place of theirs
select
    changed_days.session_date,
    'ZZ' as country_code,
    0 as session_count,
    0 as page_view_sessions,
    0 as product_view_sessions,
    0 as add_to_cart_sessions,
    0 as checkout_sessions,
    0 as purchase_sessions,
    null as page_view_to_product_view_rate,
    null as product_view_to_add_to_cart_rate,
    null as add_to_cart_to_checkout_rate,
    null as checkout_to_purchase_rate,
    null as session_conversion_rate
from changed_days
where changed_days.session_date not in (select final.session_date from final)
{%- endif %}
