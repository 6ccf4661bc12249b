{#- One row per UTC hour, connection and stream with at least one sync (gold): what the
    syncs started in that hour read, wrote to bronze and sent to the DLQ, and how many
    failed. is_last_24h marks the hours of the 24 before the build (measured_at), what the
    throughput chart shows. Replays are not syncs: dlq_replays has them. -#}
with

stream_syncs as (
    select * from {{ ref('int_sync_streams_enriched') }}
),

measured as (
    select {{ ops_utc_now() }} as measured_at
),

hourly as (
    select
        {{ dbt.date_trunc('hour', 'started_at') }} as sync_hour,
        connection_name,
        source_type,
        stream_name,
        count(*) as sync_count,
        sum(case when is_succeeded then 0 else 1 end) as failed_sync_count,
        sum(case when is_succeeded then rows_read else 0 end) as rows_read,
        sum(case when is_succeeded then rows_written else 0 end) as rows_written,
        sum(case when is_succeeded then rows_dlq else 0 end) as rows_dlq,
        sum(case when is_succeeded then coalesce(bytes_written, 0) else 0 end) as bytes_written,
        sum(coalesce(stream_seconds, 0)) as stream_seconds
    from stream_syncs
    group by
        {{ dbt.date_trunc('hour', 'started_at') }}, connection_name, source_type, stream_name
),

final as (
    select
        cast(hourly.sync_hour as {{ dbt.type_timestamp() }}) as sync_hour,
        cast(hourly.connection_name as {{ dbt.type_string() }}) as connection_name,
        cast(hourly.source_type as {{ dbt.type_string() }}) as source_type,
        cast(hourly.stream_name as {{ dbt.type_string() }}) as stream_name,
        cast(hourly.sync_count as {{ dbt.type_bigint() }}) as sync_count,
        cast(hourly.failed_sync_count as {{ dbt.type_bigint() }}) as failed_sync_count,
        cast(hourly.rows_read as {{ dbt.type_bigint() }}) as rows_read,
        cast(hourly.rows_written as {{ dbt.type_bigint() }}) as rows_written,
        cast(hourly.rows_dlq as {{ dbt.type_bigint() }}) as rows_dlq,
        cast(hourly.bytes_written as {{ dbt.type_bigint() }}) as bytes_written,
        cast(hourly.stream_seconds as decimal(18, 3)) as stream_seconds,
        hourly.sync_hour
        >= {{ dbt.dateadd('hour', -24, dbt.date_trunc('hour', 'measured.measured_at')) }}
            as is_last_24h
    from hourly
    cross join measured
)

select * from final
