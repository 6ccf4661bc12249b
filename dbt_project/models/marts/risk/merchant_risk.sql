{#- Each merchant's risk as of the end of the data, midnight after the last day with a
    payment attempt (refunds and disputes dated later are not counted: the generator
    dates on the period's last second those that would fall after it): the features of
    risk_features computed at that instant (what the merchant did in the 1 hour, 24 hours,
    7 days and 30 days before it; macros/risk_features.sql), the ratios, the velocity
    flags and the risk tier, with the merchant's name and country.
    What the "merchants at risk" chart reads: one small row per merchant, current, instead
    of the latest of a million attempts. A merchant without events in the 30 days is there
    with zeros and tier low. -#}
with

merchants as (
    select * from {{ ref('dim_merchants') }}
),

events as (
    select * from {{ ref('int_risk_events_unioned') }}
),

as_of as (
    select
        {{ dbt.dateadd('day', 1, dbt.date_trunc('day', 'max(event_at)')) }} as as_of_at
    from events
    where event_type in ('payment', 'failed_payment')
),

-- the merchants' events of the 30 days before
merchant_events as (
    select
        events.merchant_id,
        events.event_type,
        events.event_at,
        events.amount_reporting
    from events
    cross join as_of
    where
        events.event_at >= {{ dbt.dateadd('day', -30, 'as_of.as_of_at') }}
        and events.event_at < as_of.as_of_at
),

-- one instant to score: a sum per window over the merchant's events, where
-- risk_features' sliding frames over every event would compute a row per event
current_sums as (
    select
        'merchant' as entity_type,
        merchants.merchant_id as entity_id,
        {{- risk_sums_before('merchant_events', 'as_of.as_of_at') }}
        as_of.as_of_at as event_at
    from merchants
    cross join as_of
    left join merchant_events
        on merchants.merchant_id = merchant_events.merchant_id
    group by merchants.merchant_id, as_of.as_of_at
),

current_features as (
    select
        entity_type,
        entity_id,
        {{- risk_window_sums_typed() }}
        event_at as as_of_at
    from current_sums
),

{{ risk_assessment('current_features') }},

final as (
    select
        risk_tiers.entity_id as merchant_id,
        merchants.merchant_name,
        merchants.country_code,
        merchants.merchant_category,
        risk_tiers.as_of_at,
        {{- risk_feature_columns() }}
    from risk_tiers
    inner join merchants
        on risk_tiers.entity_id = merchants.merchant_id
)

select * from final
