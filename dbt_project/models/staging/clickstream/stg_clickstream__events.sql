with

source as (
    select * from {{ source('clickstream', 'events') }}
),

latest as (
    {{ latest_per_key('source', ['event_id']) }}
),

final as (
    select
        event_id,
        cast(occurred_at as timestamp) as occurred_at,
        lower(event_type) as event_type,
        cast(user_id as bigint) as customer_id,
        anonymous_id,
        page_path,
        cast(product_id as bigint) as product_id,
        upper(country_code) as country_code,
        user_agent,
        lower(user_agent) like '%bot%'
        or lower(user_agent) like 'python-requests%' as is_bot,
        environment = 'test' as is_test_traffic,
        _source_file,
        _extracted_at
    from latest
)

select * from final
