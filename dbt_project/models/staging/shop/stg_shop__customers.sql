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
        trim(first_name) as first_name,
        trim(last_name) as last_name,
        upper(trim(country_code)) as country_code,
        {{ to_utc_timestamp('created_at') }} as signed_up_at,
        cast({{ to_utc_timestamp('created_at') }} as date) as signed_up_date,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        _extracted_at
    from latest
)

select * from final
