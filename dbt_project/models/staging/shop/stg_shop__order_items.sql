with

source as (
    select * from {{ source('shop', 'order_items') }}
),

latest as (
    {{ latest_per_key('source', ['order_item_id']) }}
),

final as (
    select
        cast(order_item_id as bigint) as order_item_id,
        cast(order_id as bigint) as order_id,
        cast(product_id as bigint) as product_id,
        cast(quantity as integer) as quantity,
        cast(unit_price_cents as bigint) as unit_price_cents,
        {{ cents_to_amount('unit_price_cents') }} as unit_price,
        cast(quantity as bigint) * cast(unit_price_cents as bigint) as line_total_cents,
        {{ cents_to_amount('cast(quantity as bigint) * cast(unit_price_cents as bigint)') }}
            as line_total,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        _extracted_at
    from latest
)

select * from final
