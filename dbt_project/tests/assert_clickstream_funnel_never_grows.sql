{#- funnel_conversion: each step has at most as many sessions as the step before it, and
    every rate is between 0 and 1. Returns the rows that break it. -#}
select *
from {{ ref('funnel_conversion') }}
where
    page_view_sessions > session_count
    or product_view_sessions > page_view_sessions
    or add_to_cart_sessions > product_view_sessions
    or checkout_sessions > add_to_cart_sessions
    or purchase_sessions > checkout_sessions
    or session_conversion_rate < 0
    or session_conversion_rate > 1
