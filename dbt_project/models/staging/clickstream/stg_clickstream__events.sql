{#- Bots and test traffic are flagged, not removed: marts decide what to count. Events
    without an id, a time or a type cannot be placed and are left out (lines that were not
    valid JSON never reach bronze: ingestion sends them to the dead-letter queue).
    Incremental like the shop's staging (macros/incremental_staging.sql): a run reads only
    the events landed after the newest one staged and replaces those event ids, so an
    event landed twice (a drop re-read after a crash) still appears once. -#}
{{ config(
    materialized='incremental',
    unique_key='event_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}

with

landed as {{ bronze_rows_cte() }} (
    select * from {{ source('clickstream', 'events') }}
    {{ new_bronze_rows_only() }}
),

source as not materialized (
    select * from landed
    where
        event_id is not null
        and occurred_at is not null
        and event_type is not null
),

latest as (
    {{ latest_per_key('source', ['event_id']) }}
),

renamed as (
    select
        trim(event_id) as event_id,
        {{ to_utc_timestamp('occurred_at') }} as occurred_at,
        lower(trim(event_type)) as event_type,
        cast(user_id as bigint) as customer_id,
        anonymous_id,
        page_path,
        cast(product_id as bigint) as product_id,
        upper(trim(country_code)) as country_code,
        user_agent,
        lower(trim(environment)) as environment,
        lower(coalesce(user_agent, '')) as user_agent_lower,
        _source_file,
        _extracted_at
    from latest
),

final as (
    select
        event_id,
        occurred_at,
        cast(occurred_at as date) as event_date,
        event_type,
        customer_id,
        anonymous_id,
        page_path,
        product_id,
        country_code,
        user_agent,
        environment,
        (
            user_agent_lower like '%bot%'
            or user_agent_lower like '%crawler%'
            or user_agent_lower like '%spider%'
            or user_agent_lower like '%headless%'
            or user_agent_lower like 'python-requests%'
            or user_agent_lower like 'curl/%'
            or user_agent_lower like 'wget/%'
        ) as is_bot,
        coalesce(environment in ('test', 'testing', 'staging', 'development', 'dev'), false)
            as is_test,
        coalesce(environment in ('test', 'testing', 'staging', 'development', 'dev'), false)
            as is_test_traffic,
        _source_file,
        _extracted_at
    from renamed
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
