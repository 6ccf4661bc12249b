{{ config(
    materialized='incremental',
    unique_key='product_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_keys_deleted_at_source(source('shop', 'products'), ['product_id']) }}"
) }}

with

source as {{ bronze_rows_cte() }} (
    select * from {{ source('shop', 'products') }}
    {{ new_bronze_rows_only() }}
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

select
    *,
    {{ loaded_by_this_invocation() }}
from final
