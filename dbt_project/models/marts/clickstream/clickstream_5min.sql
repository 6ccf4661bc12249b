{#- Human events per 5-minute window, event type and country. Incremental: a run
    recomputes every window from `incremental_lookback_hours` (default 2) before the
    latest window already built, and replaces those windows (delete+insert on the key),
    so late events within the lookback are counted. On DuckDB this is a table in the
    warehouse file (external Parquet cannot be incremental). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['window_start_at', 'event_type', 'country_code'],
        on_schema_change='append_new_columns'
    )
}}

with

events as (
    select * from {{ ref('int_clickstream_sessionized') }}
    {% if is_incremental() %}
        where occurred_at >= {{ lookback_cutoff(
            'window_start_at', 'hour', 'incremental_lookback_hours', 2
        ) }}
    {% endif %}
),

bucketed as (
    select
        {{ clickstream_time_bucket('occurred_at', 5) }} as window_start_at,
        event_type,
        -- ZZ: ISO 3166 user-assigned code for an unknown country (keeps the key non-null)
        coalesce(country_code, 'ZZ') as country_code,
        session_id,
        visitor_id
    from events
),

final as (
    select
        cast(window_start_at as timestamp) as window_start_at,
        cast({{ dbt.dateadd('minute', 5, 'window_start_at') }} as timestamp) as window_end_at,
        cast(window_start_at as date) as window_date,
        -- varchar, not text, on PostgreSQL: the types the contract created the table with,
        -- or on_schema_change sees a change on every incremental run
        cast(event_type as varchar) as event_type,
        cast(country_code as varchar) as country_code,
        cast(count(*) as bigint) as event_count,
        cast(count(distinct session_id) as bigint) as session_count,
        cast(count(distinct visitor_id) as bigint) as visitor_count
    from bucketed
    group by window_start_at, event_type, country_code
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
