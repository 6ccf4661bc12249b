{#- The shop funnel per day and country: sessions reaching each step and the conversion
    between consecutive steps. A session reaches a step when it has an event of that step
    and of every step before it (page_view, product_view, add_to_cart, checkout_started,
    purchase), so the counts never grow down the funnel. A session counts on the UTC day
    it starts, in the country of its first event. -#}
with

events as (
    select * from {{ ref('int_clickstream_sessionized') }}
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
