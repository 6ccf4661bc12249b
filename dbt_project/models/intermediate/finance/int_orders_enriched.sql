{#- Orders with their successful payment and amounts converted to the reporting
    currency at the rate of the order date. -#}
with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

payments as (
    select * from {{ ref('stg_shop__payments') }}
),

rates as (
    select * from {{ ref('stg_fx__rates') }}
),

payments_per_order as (
    select
        order_id,
        sum(case when is_successful then amount_cents else 0 end) as paid_cents,
        sum(case when is_successful then 0 else 1 end) as failed_payment_attempts,
        max(case when is_successful then payment_method end) as payment_method
    from payments
    group by order_id
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        orders.merchant_id,
        orders.order_status,
        orders.currency_code,
        orders.ordered_at,
        orders.order_date,
        orders.order_total_cents,
        orders.order_total,
        coalesce(payments_per_order.paid_cents, 0) as paid_cents,
        coalesce(payments_per_order.failed_payment_attempts, 0) as failed_payment_attempts,
        payments_per_order.payment_method,
        case
            when orders.currency_code = '{{ var("reporting_currency") }}' then 1.0
            else rates.units_per_base
        end as fx_units_per_reporting,
        cast(
            orders.order_total
            / case
                when orders.currency_code = '{{ var("reporting_currency") }}' then 1.0
                else rates.units_per_base
            end
            as decimal(18, 2)
        ) as order_total_reporting
    from orders
    left join payments_per_order
        on orders.order_id = payments_per_order.order_id
    left join rates
        on
            orders.order_date = rates.rate_date
            and orders.currency_code = rates.quote_currency_code
)

select * from final
