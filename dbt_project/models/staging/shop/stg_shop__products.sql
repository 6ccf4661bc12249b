with

source as (
    select * from {{ source('shop', 'products') }}
),

latest as (
    {{ latest_per_key('source', ['product_id']) }}
),

final as (
    select
        cast(product_id as bigint) as product_id,
        cast(merchant_id as bigint) as merchant_id,
        trim(name) as product_name,
        lower(trim(category)) as product_category,
        upper(trim(currency)) as currency_code,
        cast(price_cents as bigint) as price_cents,
        {{ cents_to_amount('price_cents') }} as price,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        _extracted_at
    from latest
)

select * from final
