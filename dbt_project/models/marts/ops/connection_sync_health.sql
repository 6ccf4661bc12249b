{#- One row per connection that has synced (gold): its syncs of the 24 hours before the
    build (measured_at), how many failed (the error rate) and how long they took (median
    and 99th percentile of the whole sync's wall time), and its latest sync. -#}
with

runs as (
    select * from {{ ref('stg_ops__sync_runs') }}
    where run_kind = 'sync'
),

measured as (
    select {{ ops_utc_now() }} as measured_at
),

recent_per_connection as (
    {{ ops_runs_in_window('runs', ['connection_name'], 'duration_seconds') }}
),

latest as (
    select
        connection_name,
        source_type,
        sync_id,
        started_at,
        sync_status
    from (
        select
            connection_name,
            source_type,
            sync_id,
            started_at,
            sync_status,
            row_number() over (
                partition by connection_name order by started_at desc, sync_id desc
            ) as recency_rank
        from runs
    ) as ranked
    where recency_rank = 1
),

final as (
    select
        cast(latest.connection_name as {{ dbt.type_string() }}) as connection_name,
        cast(latest.source_type as {{ dbt.type_string() }}) as source_type,
        cast(latest.sync_id as {{ dbt.type_string() }}) as last_sync_id,
        cast(latest.started_at as {{ dbt.type_timestamp() }}) as last_sync_started_at,
        cast(latest.sync_status as {{ dbt.type_string() }}) as last_sync_status,
        cast(coalesce(recent_per_connection.run_count, 0) as {{ dbt.type_bigint() }})
            as syncs_last_24h,
        cast(coalesce(recent_per_connection.failed_run_count, 0) as {{ dbt.type_bigint() }})
            as failed_syncs_last_24h,
        cast(
            recent_per_connection.failed_run_count * 1.0 / recent_per_connection.run_count
            as decimal(9, 4)
        ) as error_rate_last_24h,
        cast(recent_per_connection.seconds_p50 as decimal(18, 3)) as sync_seconds_p50_last_24h,
        cast(recent_per_connection.seconds_p99 as decimal(18, 3)) as sync_seconds_p99_last_24h,
        cast(recent_per_connection.seconds_max as decimal(18, 3)) as sync_seconds_max_last_24h,
        cast(measured.measured_at as {{ dbt.type_timestamp() }}) as measured_at
    from latest
    left join recent_per_connection
        on latest.connection_name = recent_per_connection.connection_name
    cross join measured
)

select * from final
