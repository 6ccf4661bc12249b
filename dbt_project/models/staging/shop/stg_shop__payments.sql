with

source as (
    select * from {{ source('shop', 'payments') }}
),

latest as (
    {{ latest_per_key('source', ['payment_id']) }}
),

final as (
    select
        cast(payment_id as bigint) as payment_id,
        cast(order_id as bigint) as order_id,
        lower(method) as payment_method,
        lower(status) as payment_status,
        lower(status) = 'succeeded' as is_successful,
        upper(currency) as currency_code,
        cast(amount_cents as bigint) as amount_cents,
        {{ cents_to_amount('amount_cents') }} as amount,
        cast(created_at as timestamp) as paid_at,
        cast(updated_at as timestamp) as updated_at,
        _extracted_at
    from latest
)

select * from final
