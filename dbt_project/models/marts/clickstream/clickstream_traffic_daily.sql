{#- Every clickstream event per UTC day, country and traffic class (gold): human, bot or
    test traffic. The other clickstream marts count humans only; this one shows what they
    leave out, e.g. the bot share of the traffic. Bot wins over test when both apply.
    On DuckDB an incremental build recomputes only the days with an event staged since
    the newest one it has counted (last_extracted_at; staging's own cursor,
    macros/incremental_staging.sql: extraction times grow from sync to sync) and replaces
    those days (delete+insert on event_date). A build with no new event writes nothing. -#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    unique_key='event_date',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}

{#- a table built before the cursor column existed: every day once, and the column is added -#}
{%- set cursor = is_incremental() and execute and 'last_extracted_at' in (
    adapter.get_columns_in_relation(this) | map(attribute='name') | list
) %}

with

{% if cursor %}
changed_days as (
    select distinct event_date from {{ ref('stg_clickstream__events') }}
    where _extracted_at > coalesce(
        (select max(last_extracted_at) from {{ this }}),
        cast('1970-01-01 00:00:00' as {{ dbt.type_timestamp() }})
    )
),
{% endif %}

events as (
    select * from {{ ref('stg_clickstream__events') }}
    {%- if cursor %}
        where event_date in (select changed_days.event_date from changed_days)
    {%- endif %}
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
            as visitor_id,
        _extracted_at
    from events
),

final as (
    select
        event_date,
        cast(country_code as {{ dbt.type_string() }}) as country_code,
        cast(traffic_class as {{ dbt.type_string() }}) as traffic_class,
        cast(count(*) as {{ dbt.type_bigint() }}) as event_count,
        cast(count(distinct visitor_id) as {{ dbt.type_bigint() }}) as visitor_count,
        cast(max(_extracted_at) as {{ dbt.type_timestamp() }}) as last_extracted_at
    from classified
    group by event_date, country_code, traffic_class
)

select * from final
