with

source as (
    select * from {{ source('shop', 'customers') }}
),

latest as (
    {{ latest_per_key('source', ['customer_id']) }}
),

final as (
    select
        cast(customer_id as bigint) as customer_id,
        lower(trim(email)) as email,
        first_name,
        last_name,
        upper(country_code) as country_code,
        cast(created_at as timestamp) as signed_up_at,
        cast(updated_at as timestamp) as updated_at,
        _extracted_at
    from latest
)

select * from final
