{#- Risk signals per merchant: how often its payments fail, are refunded and are
    disputed, and how fast it takes orders over the last 7 and 30 days of data (days ending
    on the latest order date in the data, not today: the data may be historic). Rates are
    null when their denominator is zero. -#}
with

merchants as (
    select * from {{ ref('stg_shop__merchants') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

payments as (
    select * from {{ ref('stg_shop__payments') }}
),

refunds as (
    select * from {{ ref('stg_shop__refunds') }}
),

disputes as (
    select * from {{ ref('stg_shop__disputes') }}
),

as_of as (
    select max(order_date) as as_of_date from orders
),

orders_per_merchant as (
    select
        orders.merchant_id,
        count(*) as order_count,
        sum(
            case
                when orders.order_date > {{ dbt.dateadd('day', -7, 'as_of.as_of_date') }}
                    then 1
                else 0
            end
        ) as orders_last_7_days,
        sum(
            case
                when orders.order_date > {{ dbt.dateadd('day', -30, 'as_of.as_of_date') }}
                    then 1
                else 0
            end
        ) as orders_last_30_days
    from orders
    cross join as_of
    group by orders.merchant_id
),

payments_per_merchant as (
    select
        orders.merchant_id,
        count(*) as payment_attempt_count,
        sum(case when payments.is_successful then 1 else 0 end) as successful_payment_count,
        sum(case when payments.is_successful then 0 else 1 end) as failed_payment_count
    from payments
    inner join orders
        on payments.order_id = orders.order_id
    group by orders.merchant_id
),

refunds_per_merchant as (
    select
        orders.merchant_id,
        count(*) as refund_count
    from refunds
    inner join orders
        on refunds.order_id = orders.order_id
    group by orders.merchant_id
),

disputes_per_merchant as (
    select
        orders.merchant_id,
        count(*) as dispute_count,
        sum(case when disputes.dispute_status = 'lost' then 1 else 0 end) as lost_dispute_count
    from disputes
    inner join orders
        on disputes.order_id = orders.order_id
    group by orders.merchant_id
),

counts as (
    select
        merchants.merchant_id,
        merchants.merchant_name,
        merchants.country_code,
        merchants.merchant_category,
        as_of.as_of_date,
        coalesce(orders_per_merchant.order_count, 0) as order_count,
        coalesce(orders_per_merchant.orders_last_7_days, 0) as orders_last_7_days,
        coalesce(orders_per_merchant.orders_last_30_days, 0) as orders_last_30_days,
        coalesce(payments_per_merchant.payment_attempt_count, 0) as payment_attempt_count,
        coalesce(payments_per_merchant.successful_payment_count, 0)
            as successful_payment_count,
        coalesce(payments_per_merchant.failed_payment_count, 0) as failed_payment_count,
        coalesce(refunds_per_merchant.refund_count, 0) as refund_count,
        coalesce(disputes_per_merchant.dispute_count, 0) as dispute_count,
        coalesce(disputes_per_merchant.lost_dispute_count, 0) as lost_dispute_count
    from merchants
    cross join as_of
    left join orders_per_merchant
        on merchants.merchant_id = orders_per_merchant.merchant_id
    left join payments_per_merchant
        on merchants.merchant_id = payments_per_merchant.merchant_id
    left join refunds_per_merchant
        on merchants.merchant_id = refunds_per_merchant.merchant_id
    left join disputes_per_merchant
        on merchants.merchant_id = disputes_per_merchant.merchant_id
),

final as (
    select
        merchant_id,
        merchant_name,
        country_code,
        merchant_category,
        as_of_date,
        cast(order_count as bigint) as order_count,
        cast(payment_attempt_count as bigint) as payment_attempt_count,
        cast(successful_payment_count as bigint) as successful_payment_count,
        cast(failed_payment_count as bigint) as failed_payment_count,
        cast(refund_count as bigint) as refund_count,
        cast(dispute_count as bigint) as dispute_count,
        cast(lost_dispute_count as bigint) as lost_dispute_count,
        cast(orders_last_7_days as bigint) as orders_last_7_days,
        cast(orders_last_30_days as bigint) as orders_last_30_days,
        cast(
            1.0 * failed_payment_count / nullif(payment_attempt_count, 0) as decimal(9, 4)
        ) as payment_failure_rate,
        cast(
            1.0 * refund_count / nullif(successful_payment_count, 0) as decimal(9, 4)
        ) as refund_rate,
        cast(
            1.0 * dispute_count / nullif(successful_payment_count, 0) as decimal(9, 4)
        ) as dispute_rate,
        cast(orders_last_7_days / 7.0 as decimal(12, 4)) as orders_per_day_last_7_days,
        cast(orders_last_30_days / 30.0 as decimal(12, 4)) as orders_per_day_last_30_days,
        cast(
            (orders_last_7_days / 7.0) / nullif(orders_last_30_days / 30.0, 0)
            as decimal(12, 4)
        ) as order_velocity_ratio
    from counts
)

select * from final
