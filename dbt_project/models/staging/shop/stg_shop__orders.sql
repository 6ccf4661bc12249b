{{ config(
    materialized='incremental',
    unique_key='order_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_keys_deleted_at_source(source('shop', 'orders'), ['order_id']) }}"
) }}

with

source as {{ bronze_rows_cte() }} (
    select * from {{ source('shop', 'orders') }}
    {{ new_bronze_rows_only() }}
),

latest as (
    {{ latest_per_key('source', ['order_id']) }}
),

final as (
    select
        cast(order_id as bigint) as order_id,
        cast(customer_id as bigint) as customer_id,
        cast(merchant_id as bigint) as merchant_id,
        lower(trim(status)) as order_status,
        upper(trim(currency)) as currency_code,
        cast(order_total_cents as bigint) as order_total_cents,
        {{ cents_to_amount('order_total_cents') }} as order_total,
        {{ to_utc_timestamp('created_at') }} as ordered_at,
        cast({{ to_utc_timestamp('created_at') }} as date) as order_date,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        _extracted_at
    from latest
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
