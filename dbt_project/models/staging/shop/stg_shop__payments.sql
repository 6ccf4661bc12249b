{{ config(
    materialized='incremental',
    unique_key='payment_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_keys_deleted_at_source(source('shop', 'payments'), ['payment_id']) }}"
) }}

with

source as {{ bronze_rows_cte() }} (
    select * from {{ source('shop', 'payments') }}
    {{ new_bronze_rows_only() }}
),

latest as (
    {{ latest_per_key('source', ['payment_id']) }}
),

final as (
    select
        cast(payment_id as bigint) as payment_id,
        cast(order_id as bigint) as order_id,
        lower(trim(method)) as payment_method,
        lower(trim(status)) as payment_status,
        coalesce(lower(trim(status)) = 'succeeded', false) as is_successful,
        upper(trim(currency)) as currency_code,
        cast(amount_cents as bigint) as amount_cents,
        {{ cents_to_amount('amount_cents') }} as amount,
        {{ to_utc_timestamp('created_at') }} as paid_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        _extracted_at
    from latest
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
