{#- One row per sync and stream it concerned, with the sync's outcome, what the DLQ still
    holds of it, its schema-drift events, and its place in the stream's history.

    A sync that failed before it reached any stream (its document lists none: a bad
    config, an unreadable state file) concerns every stream of its connection: it gets a
    row for each stream the connection has ever reported, with zero counts and
    is_stream_reported = false, so that the stream's last sync shows as failed.

    Replays of dead letters (run_kind = replay) are not syncs: they are left out here
    (the dlq_replays mart has them), but the dead letters they took out of the DLQ still
    count for the sync that rejected them (is_dlq_intact). -#}
with

runs as (
    select * from {{ ref('stg_ops__sync_runs') }}
    where run_kind = 'sync'
),

sync_streams as (
    select * from {{ ref('stg_ops__sync_streams') }}
    where sync_id in (select runs.sync_id from runs)
),

dead_letters as (
    select * from {{ ref('stg_ops__dead_letters') }}
),

replayed_dead_letters as (
    select * from {{ ref('stg_ops__replayed_dead_letters') }}
),

schema_events as (
    select * from {{ ref('stg_ops__schema_events') }}
),

known_streams as (
    select distinct
        connection_name,
        stream_name
    from sync_streams
),

reported as (
    select
        sync_id,
        connection_name,
        stream_name,
        true as is_stream_reported,
        sync_mode,
        destination_sync_mode,
        rows_read,
        rows_written,
        rows_dlq,
        rows_deleted,
        source_rows,
        records_lost,
        bytes_written,
        files_replaced,
        stream_seconds,
        stream_schedule,
        next_scheduled_at,
        is_rows_balanced,
        is_source_count_matched,
        is_reconciled
    from sync_streams
),

not_reached as (
    select
        runs.sync_id,
        known_streams.connection_name,
        known_streams.stream_name,
        false as is_stream_reported,
        cast(null as {{ dbt.type_string() }}) as sync_mode,
        cast(null as {{ dbt.type_string() }}) as destination_sync_mode,
        cast(0 as {{ dbt.type_bigint() }}) as rows_read,
        cast(0 as {{ dbt.type_bigint() }}) as rows_written,
        cast(0 as {{ dbt.type_bigint() }}) as rows_dlq,
        cast(0 as {{ dbt.type_bigint() }}) as rows_deleted,
        cast(null as {{ dbt.type_bigint() }}) as source_rows,
        cast(0 as {{ dbt.type_bigint() }}) as records_lost,
        cast(0 as {{ dbt.type_bigint() }}) as bytes_written,
        cast(0 as {{ dbt.type_bigint() }}) as files_replaced,
        cast(null as decimal(18, 3)) as stream_seconds,
        cast(null as {{ dbt.type_string() }}) as stream_schedule,
        cast(null as {{ dbt.type_timestamp() }}) as next_scheduled_at,
        cast(null as {{ dbt.type_boolean() }}) as is_rows_balanced,
        cast(null as {{ dbt.type_boolean() }}) as is_source_count_matched,
        cast(null as {{ dbt.type_boolean() }}) as is_reconciled
    from runs
    inner join known_streams
        on runs.connection_name = known_streams.connection_name
    where runs.stream_count = 0
),

stream_syncs as (
    select * from reported
    union all
    select * from not_reached
),

dead_letters_per_stream_sync as (
    select
        sync_id,
        connection_name,
        stream_name,
        count(*) as dead_letters_in_dlq
    from dead_letters
    group by sync_id, connection_name, stream_name
),

replayed_per_stream_sync as (
    select
        sync_id,
        connection_name,
        stream_name,
        count(*) as dead_letters_replayed
    from replayed_dead_letters
    group by sync_id, connection_name, stream_name
),

schema_events_per_stream_sync as (
    select
        sync_id,
        connection_name,
        stream_name,
        count(*) as schema_events
    from schema_events
    group by sync_id, connection_name, stream_name
),

joined as (
    select
        stream_syncs.sync_id,
        stream_syncs.connection_name,
        stream_syncs.stream_name,
        runs.source_type,
        runs.sync_status,
        runs.is_succeeded,
        runs.error_message,
        runs.is_full_refresh,
        runs.started_at,
        runs.finished_at,
        runs.started_date,
        stream_syncs.is_stream_reported,
        stream_syncs.sync_mode,
        stream_syncs.destination_sync_mode,
        stream_syncs.rows_read,
        stream_syncs.rows_written,
        stream_syncs.rows_dlq,
        stream_syncs.rows_deleted,
        stream_syncs.source_rows,
        stream_syncs.records_lost,
        stream_syncs.bytes_written,
        stream_syncs.files_replaced,
        stream_syncs.stream_seconds,
        stream_syncs.stream_schedule,
        stream_syncs.next_scheduled_at,
        stream_syncs.is_rows_balanced,
        stream_syncs.is_source_count_matched,
        stream_syncs.is_reconciled,
        coalesce(dead_letters_per_stream_sync.dead_letters_in_dlq, 0) as dead_letters_in_dlq,
        coalesce(replayed_per_stream_sync.dead_letters_replayed, 0) as dead_letters_replayed,
        coalesce(schema_events_per_stream_sync.schema_events, 0) as schema_events,
        row_number() over (
            partition by stream_syncs.connection_name, stream_syncs.stream_name
            order by runs.started_at desc, stream_syncs.sync_id desc
        ) as sync_recency_rank,
        -- when a later successful sync replaced the stream's files (an overwrite stream,
        -- or a full refresh), the dead letters of this one went with them
        max(
            case when runs.is_succeeded and stream_syncs.files_replaced > 0 then runs.started_at end
        ) over (
            partition by stream_syncs.connection_name, stream_syncs.stream_name
        ) as last_replaced_at
    from stream_syncs
    inner join runs
        on stream_syncs.sync_id = runs.sync_id
    left join dead_letters_per_stream_sync
        on
            stream_syncs.sync_id = dead_letters_per_stream_sync.sync_id
            and stream_syncs.connection_name = dead_letters_per_stream_sync.connection_name
            and stream_syncs.stream_name = dead_letters_per_stream_sync.stream_name
    left join replayed_per_stream_sync
        on
            stream_syncs.sync_id = replayed_per_stream_sync.sync_id
            and stream_syncs.connection_name = replayed_per_stream_sync.connection_name
            and stream_syncs.stream_name = replayed_per_stream_sync.stream_name
    left join schema_events_per_stream_sync
        on
            stream_syncs.sync_id = schema_events_per_stream_sync.sync_id
            and stream_syncs.connection_name = schema_events_per_stream_sync.connection_name
            and stream_syncs.stream_name = schema_events_per_stream_sync.stream_name
),

final as (
    select
        sync_id,
        connection_name,
        stream_name,
        source_type,
        sync_status,
        is_succeeded,
        error_message,
        is_full_refresh,
        started_at,
        finished_at,
        started_date,
        is_stream_reported,
        sync_mode,
        destination_sync_mode,
        rows_read,
        rows_written,
        rows_dlq,
        rows_deleted,
        source_rows,
        records_lost,
        bytes_written,
        files_replaced,
        stream_seconds,
        stream_schedule,
        next_scheduled_at,
        is_rows_balanced,
        is_source_count_matched,
        is_reconciled,
        case
            when not is_stream_reported then 'not_reached'
            when is_reconciled then 'reconciled'
            when not is_rows_balanced then 'rows_unbalanced'
            else 'source_count_mismatch'
        end as reconciliation_status,
        dead_letters_in_dlq,
        dead_letters_replayed,
        -- a successful sync's dead letters are all in the DLQ or were taken out by a
        -- replay, unless a later successful sync replaced them; a failed sync's are not
        -- checked (uncommitted ones are removed)
        case
            when not is_succeeded then null
            when dead_letters_in_dlq + dead_letters_replayed = rows_dlq then true
            when
                dead_letters_in_dlq + dead_letters_replayed = 0
                and last_replaced_at > started_at
                then true
            else false
        end as is_dlq_intact,
        schema_events,
        sync_recency_rank,
        sync_recency_rank = 1 as is_latest_sync
    from joined
)

select * from final
