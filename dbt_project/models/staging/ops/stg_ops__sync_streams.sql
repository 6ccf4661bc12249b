{#- One row per sync and stream: what the sync read, wrote to bronze and sent to the DLQ,
    unnested from the `streams` array of the sync's document. A sync that failed before
    it reached any stream has no row here (it is in stg_ops__sync_runs). -#}
with

runs as (
    select * from {{ ops_source('ops', 'sync_runs') }}
),

stream_elements as (
    select
        runs.sync_id,
        runs.connection,
        elements.stream_json
    from runs
    cross join lateral {{ ops_json_array_elements('runs.streams') }} as elements (stream_json)
),

typed as (
    select
        sync_id,
        connection as connection_name,
        {{ ops_json_text('stream_json', 'stream') }} as stream_name,
        {{ ops_json_text('stream_json', 'sync_mode') }} as sync_mode,
        {{ ops_json_text('stream_json', 'destination_sync_mode') }} as destination_sync_mode,
        cast({{ ops_json_text('stream_json', 'rows_read') }} as bigint) as rows_read,
        cast({{ ops_json_text('stream_json', 'rows_written') }} as bigint) as rows_written,
        cast({{ ops_json_text('stream_json', 'rows_dlq') }} as bigint) as rows_dlq,
        coalesce(
            cast({{ ops_json_text('stream_json', 'rows_deleted') }} as bigint), 0
        ) as rows_deleted,
        cast({{ ops_json_text('stream_json', 'source_rows') }} as bigint) as source_rows,
        cast({{ ops_json_text('stream_json', 'bytes_written') }} as bigint) as bytes_written,
        coalesce(
            {{ ops_json_array_length(ops_json_value('stream_json', 'files')) }}, 0
        ) as files_written,
        cast({{ ops_json_text('stream_json', 'files_replaced') }} as bigint) as files_replaced,
        coalesce({{ ops_json_array_length(ops_json_value('stream_json', 'schema_events')) }}, 0)
            as schema_event_count,
        cast({{ ops_json_text('stream_json', 'seconds') }} as decimal(18, 3)) as stream_seconds,
        {{ ops_json_text('stream_json', 'schedule') }} as stream_schedule,
        {{ to_utc_timestamp(ops_json_text('stream_json', 'next_scheduled_at')) }}
            as next_scheduled_at
    from stream_elements
),

final as (
    select
        sync_id,
        connection_name,
        stream_name,
        sync_mode,
        destination_sync_mode,
        rows_read,
        rows_written,
        rows_dlq,
        rows_deleted,
        source_rows,
        bytes_written,
        files_written,
        files_replaced,
        schema_event_count,
        stream_seconds,
        stream_schedule,
        next_scheduled_at,
        -- records the source holds by its own count, or by the engine's where it cannot count
        coalesce(source_rows, rows_read) as source_records,
        -- what is in neither bronze nor the DLQ (tombstones are not source records)
        coalesce(source_rows, rows_read) - (rows_written - rows_deleted) - rows_dlq
            as records_lost,
        -- nothing lost: every record read is in bronze or in the DLQ
        rows_read = rows_written - rows_deleted + rows_dlq as is_rows_balanced,
        -- where the source counts, it counted what the sync read
        source_rows is null or source_rows = rows_read as is_source_count_matched,
        rows_read = rows_written - rows_deleted + rows_dlq
        and (source_rows is null or source_rows = rows_read) as is_reconciled
    from typed
)

select * from final
