{#- One row per UTC day and connection with at least one sync: how many ran, how many
    failed, and what the successful ones moved. A day is the UTC date a sync started. -#}
with

runs as (
    select * from {{ ref('stg_ops__sync_runs') }}
    where run_kind = 'sync'  -- replays are in dlq_replays
),

sync_streams as (
    select * from {{ ref('stg_ops__sync_streams') }}
),

-- a failed sync's rows are not committed (or only up to its last checkpoint): only
-- successful syncs count towards the volumes
volumes_per_sync as (
    select
        sync_id,
        sum(rows_read) as rows_read,
        sum(rows_written) as rows_written,
        sum(rows_dlq) as rows_dlq,
        sum(bytes_written) as bytes_written
    from sync_streams
    group by sync_id
),

final as (
    select
        runs.started_date as sync_date,
        cast(runs.connection_name as {{ dbt.type_string() }}) as connection_name,
        cast(count(*) as {{ dbt.type_bigint() }}) as sync_count,
        cast(sum(case when runs.is_succeeded then 1 else 0 end) as {{ dbt.type_bigint() }})
            as succeeded_sync_count,
        cast(sum(case when runs.is_succeeded then 0 else 1 end) as {{ dbt.type_bigint() }})
            as failed_sync_count,
        cast(sum(case when runs.is_full_refresh then 1 else 0 end) as {{ dbt.type_bigint() }})
            as full_refresh_sync_count,
        cast(
            coalesce(sum(case when runs.is_succeeded then volumes_per_sync.rows_read end), 0)
            as {{ dbt.type_bigint() }}
        ) as rows_read,
        cast(
            coalesce(sum(case when runs.is_succeeded then volumes_per_sync.rows_written end), 0)
            as {{ dbt.type_bigint() }}
        ) as rows_written,
        cast(
            coalesce(sum(case when runs.is_succeeded then volumes_per_sync.rows_dlq end), 0)
            as {{ dbt.type_bigint() }}
        ) as rows_dlq,
        cast(
            coalesce(sum(case when runs.is_succeeded then volumes_per_sync.bytes_written end), 0)
            as {{ dbt.type_bigint() }}
        ) as bytes_written,
        cast(sum(runs.duration_seconds) as decimal(18, 3)) as sync_seconds_total,
        cast(max(runs.duration_seconds) as decimal(18, 3)) as sync_seconds_max,
        cast(min(runs.started_at) as {{ dbt.type_timestamp() }}) as first_sync_started_at,
        cast(max(runs.started_at) as {{ dbt.type_timestamp() }}) as last_sync_started_at
    from runs
    left join volumes_per_sync
        on runs.sync_id = volumes_per_sync.sync_id
    group by runs.started_date, runs.connection_name
)

select * from final
