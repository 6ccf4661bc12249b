{#- One row per connection and stream: how its syncs are doing, as of the build
    (measured_at). health_status sums it up:
      failing  the last sync failed or did not reconcile, the stream never synced
               successfully, or records were lost (source - bronze - DLQ is not 0);
      warning  the stream is late for its schedule (no success since its next scheduled
               sync was due, plus var ops_freshness_grace_minutes, default 15), the last
               success is older than var ops_stale_after_hours (default 26), the last sync
               sent records to the DLQ or saw schema drift, or a sync failed in the last
               24 hours;
      ok       otherwise. -#}
with

stream_syncs as (
    select * from {{ ref('int_sync_streams_enriched') }}
),

dead_letters as (
    select * from {{ ref('stg_ops__dead_letters') }}
),

replayed_dead_letters as (
    select * from {{ ref('stg_ops__replayed_dead_letters') }}
),

measured as (
    select {{ ops_utc_now() }} as measured_at
),

latest as (
    select * from stream_syncs
    where is_latest_sync
),

-- everything the DLQ holds, also the dead letters of a sync killed before it could
-- record itself (its commit was rolled forward by the next sync)
dead_letters_per_stream as (
    select
        connection_name,
        stream_name,
        count(*) as dlq_records_total
    from dead_letters
    group by connection_name, stream_name
),

replayed_per_stream as (
    select
        connection_name,
        stream_name,
        count(*) as dlq_records_replayed_total
    from replayed_dead_letters
    group by connection_name, stream_name
),

-- the schedule as of the last successful sync, and when the next one was due
last_success as (
    select
        connection_name,
        stream_name,
        stream_schedule,
        next_scheduled_at
    from (
        select
            connection_name,
            stream_name,
            stream_schedule,
            next_scheduled_at,
            row_number() over (
                partition by connection_name, stream_name
                order by sync_recency_rank
            ) as success_recency_rank
        from stream_syncs
        where is_succeeded and is_stream_reported
    ) as successes
    where success_recency_rank = 1
),

-- the syncs of the last 24 hours: throughput, error rate, durations
last_24h as (
    {{ ops_runs_in_window(
        'stream_syncs', ['connection_name', 'stream_name'], 'stream_seconds',
        succeeded_sums=['rows_read', 'rows_written']
    ) }}
),

-- the modes of the last sync that reached the stream (the latest may have failed before)
latest_reported as (
    select
        connection_name,
        stream_name,
        sync_mode,
        destination_sync_mode
    from (
        select
            connection_name,
            stream_name,
            sync_mode,
            destination_sync_mode,
            row_number() over (
                partition by connection_name, stream_name
                order by sync_recency_rank
            ) as reported_recency_rank
        from stream_syncs
        where is_stream_reported
    ) as reported
    where reported_recency_rank = 1
),

history as (
    select
        stream_syncs.connection_name,
        stream_syncs.stream_name,
        count(*) as sync_count,
        max(case when stream_syncs.is_succeeded then stream_syncs.finished_at end)
            as last_successful_sync_at,
        sum(case when stream_syncs.is_succeeded then stream_syncs.rows_written else 0 end)
            as rows_written_total,
        sum(stream_syncs.schema_events) as schema_events_total,
        sum(
            case
                when stream_syncs.is_succeeded
                    then coalesce(stream_syncs.source_rows, stream_syncs.rows_read)
                else 0
            end
        ) as source_records_total,
        sum(case when stream_syncs.is_succeeded then stream_syncs.records_lost else 0 end)
            as records_lost_total
    from stream_syncs
    group by stream_syncs.connection_name, stream_syncs.stream_name
),

joined as (
    select
        latest.connection_name,
        latest.stream_name,
        latest.source_type,
        latest_reported.sync_mode,
        latest_reported.destination_sync_mode,
        latest.sync_id as last_sync_id,
        latest.started_at as last_sync_started_at,
        latest.finished_at as last_sync_finished_at,
        latest.sync_status as last_sync_status,
        latest.error_message as last_sync_error,
        history.last_successful_sync_at,
        cast(
            {{ dbt.datediff(
                'history.last_successful_sync_at', 'measured.measured_at', 'second'
            ) }} / 3600.0
            as decimal(12, 2)
        ) as hours_since_last_success,
        latest.rows_read as rows_read_last_sync,
        latest.rows_written as rows_written_last_sync,
        history.rows_written_total,
        latest.rows_dlq as dlq_records_last_sync,
        coalesce(dead_letters_per_stream.dlq_records_total, 0) as dlq_records_total,
        latest.reconciliation_status as last_sync_reconciliation,
        coalesce(latest.is_reconciled, false) as is_last_sync_reconciled,
        latest.schema_events as schema_events_last_sync,
        history.schema_events_total,
        history.sync_count,
        coalesce(last_24h.failed_run_count, 0) as failed_syncs_last_24h,
        history.source_records_total,
        history.records_lost_total,
        coalesce(replayed_per_stream.dlq_records_replayed_total, 0) as dlq_records_replayed_total,
        coalesce(last_24h.run_count, 0) as syncs_last_24h,
        coalesce(last_24h.rows_read, 0) as rows_read_last_24h,
        coalesce(last_24h.rows_written, 0) as rows_written_last_24h,
        last_24h.seconds_p50 as stream_seconds_p50,
        last_24h.seconds_p99 as stream_seconds_p99,
        last_success.stream_schedule,
        last_success.next_scheduled_at as next_sync_due_at,
        measured.measured_at
    from latest
    inner join history
        on
            latest.connection_name = history.connection_name
            and latest.stream_name = history.stream_name
    left join dead_letters_per_stream
        on
            latest.connection_name = dead_letters_per_stream.connection_name
            and latest.stream_name = dead_letters_per_stream.stream_name
    left join latest_reported
        on
            latest.connection_name = latest_reported.connection_name
            and latest.stream_name = latest_reported.stream_name
    left join replayed_per_stream
        on
            latest.connection_name = replayed_per_stream.connection_name
            and latest.stream_name = replayed_per_stream.stream_name
    left join last_24h
        on
            latest.connection_name = last_24h.connection_name
            and latest.stream_name = last_24h.stream_name
    left join last_success
        on
            latest.connection_name = last_success.connection_name
            and latest.stream_name = last_success.stream_name
    cross join measured
),

freshness as (
    select
        joined.*,
        coalesce(
            joined.measured_at > {{ dbt.dateadd(
                'minute', var('ops_freshness_grace_minutes', 15), 'joined.next_sync_due_at'
            ) }},
            false
        ) as is_late,
        case
            when joined.next_sync_due_at < joined.measured_at
                then {{ dbt.datediff('joined.next_sync_due_at', 'joined.measured_at', 'minute') }}
            else 0
        end as minutes_overdue
    from joined
),

statused as (
    select
        cast(connection_name as {{ dbt.type_string() }}) as connection_name,
        cast(stream_name as {{ dbt.type_string() }}) as stream_name,
        cast(source_type as {{ dbt.type_string() }}) as source_type,
        cast(sync_mode as {{ dbt.type_string() }}) as sync_mode,
        cast(destination_sync_mode as {{ dbt.type_string() }}) as destination_sync_mode,
        cast(last_sync_id as {{ dbt.type_string() }}) as last_sync_id,
        cast(last_sync_started_at as {{ dbt.type_timestamp() }}) as last_sync_started_at,
        cast(last_sync_finished_at as {{ dbt.type_timestamp() }}) as last_sync_finished_at,
        cast(last_sync_status as {{ dbt.type_string() }}) as last_sync_status,
        cast(last_sync_error as {{ dbt.type_string() }}) as last_sync_error,
        cast(last_successful_sync_at as {{ dbt.type_timestamp() }}) as last_successful_sync_at,
        hours_since_last_success,
        cast(rows_read_last_sync as {{ dbt.type_bigint() }}) as rows_read_last_sync,
        cast(rows_written_last_sync as {{ dbt.type_bigint() }}) as rows_written_last_sync,
        cast(rows_written_total as {{ dbt.type_bigint() }}) as rows_written_total,
        cast(dlq_records_last_sync as {{ dbt.type_bigint() }}) as dlq_records_last_sync,
        cast(dlq_records_total as {{ dbt.type_bigint() }}) as dlq_records_total,
        cast(last_sync_reconciliation as {{ dbt.type_string() }}) as last_sync_reconciliation,
        is_last_sync_reconciled,
        cast(schema_events_last_sync as {{ dbt.type_bigint() }}) as schema_events_last_sync,
        cast(schema_events_total as {{ dbt.type_bigint() }}) as schema_events_total,
        cast(sync_count as {{ dbt.type_bigint() }}) as sync_count,
        cast(failed_syncs_last_24h as {{ dbt.type_bigint() }}) as failed_syncs_last_24h,
        cast(syncs_last_24h as {{ dbt.type_bigint() }}) as syncs_last_24h,
        cast(
            case
                when syncs_last_24h > 0 then failed_syncs_last_24h * 1.0 / syncs_last_24h
            end
            as decimal(9, 4)
        ) as error_rate_last_24h,
        cast(rows_read_last_24h as {{ dbt.type_bigint() }}) as rows_read_last_24h,
        cast(rows_written_last_24h as {{ dbt.type_bigint() }}) as rows_written_last_24h,
        cast(stream_seconds_p50 as decimal(18, 3)) as stream_seconds_p50_last_24h,
        cast(stream_seconds_p99 as decimal(18, 3)) as stream_seconds_p99_last_24h,
        cast(source_records_total as {{ dbt.type_bigint() }}) as source_records_total,
        cast(records_lost_total as {{ dbt.type_bigint() }}) as records_lost_total,
        cast(dlq_records_replayed_total as {{ dbt.type_bigint() }})
            as dlq_records_replayed_total,
        cast(stream_schedule as {{ dbt.type_string() }}) as stream_schedule,
        cast(next_sync_due_at as {{ dbt.type_timestamp() }}) as next_sync_due_at,
        cast(minutes_overdue as {{ dbt.type_bigint() }}) as minutes_overdue,
        is_late,
        cast(
            case
                when
                    last_sync_status <> 'succeeded'
                    or last_successful_sync_at is null
                    or not is_last_sync_reconciled
                    or records_lost_total <> 0
                    then 'failing'
                when
                    is_late
                    or hours_since_last_success > {{ var('ops_stale_after_hours', 26) }}
                    or dlq_records_last_sync > 0
                    or schema_events_last_sync > 0
                    or failed_syncs_last_24h > 0
                    then 'warning'
                else 'ok'
            end
            as {{ dbt.type_string() }}
        ) as health_status,
        cast(measured_at as {{ dbt.type_timestamp() }}) as measured_at
    from freshness
),

final as (
    select
        *,
        -- to sort by: failing first, then warning
        cast(
            case health_status when 'failing' then 2 when 'warning' then 1 else 0 end
            as {{ dbt.type_int() }}
        ) as health_severity
    from statused
)

select * from final
