with

source as (
    select * from {{ source('shop', 'merchants') }}
),

latest as (
    {{ latest_per_key('source', ['merchant_id']) }}
),

final as (
    select
        cast(merchant_id as bigint) as merchant_id,
        trim(name) as merchant_name,
        upper(trim(country_code)) as country_code,
        upper(trim(currency)) as currency_code,
        lower(trim(category)) as merchant_category,
        {{ to_utc_timestamp('created_at') }} as onboarded_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        _extracted_at
    from latest
)

select * from final
