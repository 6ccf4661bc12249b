{{ config(
    materialized='incremental',
    unique_key='refund_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_keys_deleted_at_source(source('shop', 'refunds'), ['refund_id']) }}"
) }}

with

source as {{ bronze_rows_cte() }} (
    select * from {{ source('shop', 'refunds') }}
    {{ new_bronze_rows_only() }}
),

latest as (
    {{ latest_per_key('source', ['refund_id']) }}
),

final as (
    select
        cast(refund_id as bigint) as refund_id,
        cast(payment_id as bigint) as payment_id,
        cast(order_id as bigint) as order_id,
        lower(trim(reason)) as refund_reason,
        upper(trim(currency)) as currency_code,
        cast(amount_cents as bigint) as amount_cents,
        {{ cents_to_amount('amount_cents') }} as amount,
        {{ to_utc_timestamp('created_at') }} as refunded_at,
        cast({{ to_utc_timestamp('created_at') }} as date) as refund_date,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        _extracted_at
    from latest
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
