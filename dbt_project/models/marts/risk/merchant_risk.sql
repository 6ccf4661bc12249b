{#- Merchants by payment risk: the signals of int_payment_risk_signals and a risk level.
    A merchant is high risk when any signal reaches its high threshold, medium when any
    reaches its medium threshold, low otherwise. The thresholds are vars (defaults below,
    documented in _risk__models.yml): about twice (medium) and four times (high) the
    marketplace's normal rates (disputes ~1% of payments, refunds ~5%, failed attempts
    ~7%), and a 7-day order pace two or three times the 30-day one. -#}
{%- set thresholds = {
    'dispute_rate': (var('risk_dispute_rate_medium', 0.02), var('risk_dispute_rate_high', 0.04)),
    'refund_rate': (var('risk_refund_rate_medium', 0.08), var('risk_refund_rate_high', 0.12)),
    'payment_failure_rate': (
        var('risk_payment_failure_rate_medium', 0.12), var('risk_payment_failure_rate_high', 0.20)
    ),
    'order_velocity_ratio': (
        var('risk_order_velocity_ratio_medium', 2.0), var('risk_order_velocity_ratio_high', 3.0)
    ),
} -%}

with

signals as (
    select * from {{ ref('int_payment_risk_signals') }}
),

levels as (
    select
        *,
        case
            {%- for signal, limits in thresholds.items() %}
                when {{ signal }} >= {{ limits[1] }} then 'high'
            {%- endfor %}
            {%- for signal, limits in thresholds.items() %}
                when {{ signal }} >= {{ limits[0] }} then 'medium'
            {%- endfor %}
            else 'low'
        end as risk_level,
        concat_ws(
            ', ',
            {%- for signal, limits in thresholds.items() %}
                case
                    when {{ signal }} >= {{ limits[1] }} then '{{ signal }} high'
                    when {{ signal }} >= {{ limits[0] }} then '{{ signal }} medium'
                end{{ ',' if not loop.last }}
            {%- endfor %}
        ) as risk_reasons
    from signals
),

final as (
    select
        merchant_id,
        merchant_name,
        country_code,
        merchant_category,
        as_of_date,
        order_count,
        payment_attempt_count,
        successful_payment_count,
        failed_payment_count,
        refund_count,
        dispute_count,
        lost_dispute_count,
        orders_last_7_days,
        orders_last_30_days,
        payment_failure_rate,
        refund_rate,
        dispute_rate,
        orders_per_day_last_7_days,
        orders_per_day_last_30_days,
        order_velocity_ratio,
        risk_level,
        case risk_level when 'high' then 3 when 'medium' then 2 else 1 end as risk_rank,
        nullif(risk_reasons, '') as risk_reasons
    from levels
)

select * from final
