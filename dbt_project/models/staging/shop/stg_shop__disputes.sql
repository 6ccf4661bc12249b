{{ config(
    materialized='incremental',
    unique_key='dispute_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_keys_deleted_at_source(source('shop', 'disputes'), ['dispute_id']) }}"
) }}

with

source as {{ bronze_rows_cte() }} (
    select * from {{ source('shop', 'disputes') }}
    {{ new_bronze_rows_only() }}
),

latest as (
    {{ latest_per_key('source', ['dispute_id']) }}
),

final as (
    select
        cast(dispute_id as bigint) as dispute_id,
        cast(payment_id as bigint) as payment_id,
        cast(order_id as bigint) as order_id,
        lower(trim(reason)) as dispute_reason,
        lower(trim(status)) as dispute_status,
        upper(trim(currency)) as currency_code,
        cast(amount_cents as bigint) as amount_cents,
        {{ cents_to_amount('amount_cents') }} as amount,
        {{ to_utc_timestamp('created_at') }} as opened_at,
        cast({{ to_utc_timestamp('created_at') }} as date) as opened_date,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        _extracted_at
    from latest
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
