{{ config(
    materialized='incremental',
    unique_key='order_item_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_keys_deleted_at_source(source('shop', 'order_items'), ['order_item_id']) }}"
) }}

with

source as {{ bronze_rows_cte() }} (
    select * from {{ source('shop', 'order_items') }}
    {{ new_bronze_rows_only() }}
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

select
    *,
    {{ loaded_by_this_invocation() }}
from final
