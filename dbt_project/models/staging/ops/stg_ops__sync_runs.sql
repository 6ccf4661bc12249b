{#- One row per sync of a connection, as recorded in _ops/runs when the sync ended. -#}
with

runs as (
    select * from {{ ops_source('ops', 'sync_runs') }}
),

final as (
    select
        sync_id,
        connection as connection_name,
        source as source_type,
        lower(status) as sync_status,
        lower(status) = 'succeeded' as is_succeeded,
        error as error_message,
        coalesce(full_refresh, false) as is_full_refresh,
        -- a replay of dead letters is recorded like a sync (lakehouse dlq replay)
        coalesce(lower(kind), 'sync') as run_kind,
        {{ to_utc_timestamp('started_at') }} as started_at,
        {{ to_utc_timestamp('finished_at') }} as finished_at,
        cast({{ to_utc_timestamp('started_at') }} as date) as started_date,
        cast(
            extract(epoch from (
                {{ to_utc_timestamp('finished_at') }} - {{ to_utc_timestamp('started_at') }}
            ))
            as decimal(18, 3)
        ) as duration_seconds,
        coalesce({{ ops_json_array_length('streams') }}, 0) as stream_count
    from runs
)

select * from final
