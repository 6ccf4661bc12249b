{#- Every clickstream event per UTC day, country and traffic class (gold): human, bot or
    test traffic. The other clickstream marts count humans only; this one shows what they
    leave out, e.g. the bot share of the traffic. Bot wins over test when both apply. -#}
with

events as (
    select * from {{ ref('stg_clickstream__events') }}
),

classified as (
    select
        event_date,
        -- ZZ: ISO 3166 user-assigned code for an unknown country (keeps the key non-null)
        coalesce(country_code, 'ZZ') as country_code,
        case
            when is_bot then 'bot'
            when is_test then 'test'
            else 'human'
        end as traffic_class,
        coalesce(anonymous_id, 'customer:' || cast(customer_id as {{ dbt.type_string() }}))
            as visitor_id
    from events
),

final as (
    select
        event_date,
        cast(country_code as {{ dbt.type_string() }}) as country_code,
        cast(traffic_class as {{ dbt.type_string() }}) as traffic_class,
        cast(count(*) as {{ dbt.type_bigint() }}) as event_count,
        cast(count(distinct visitor_id) as {{ dbt.type_bigint() }}) as visitor_count
    from classified
    group by event_date, country_code, traffic_class
)

select * from final
