{#- One row per sync and stream (gold): what each run of each stream read, wrote and sent
    to the DLQ, and whether it reconciled. A stream a failed sync never reached has a row
    with zero rows and reconciliation status not_reached. -#}
with

sync_streams as (
    select * from {{ ref('int_sync_streams_enriched') }}
),

final as (
    select
        cast(sync_id as {{ dbt.type_string() }}) as sync_id,
        cast(connection_name as {{ dbt.type_string() }}) as connection_name,
        cast(stream_name as {{ dbt.type_string() }}) as stream_name,
        cast(source_type as {{ dbt.type_string() }}) as source_type,
        cast(sync_status as {{ dbt.type_string() }}) as sync_status,
        is_full_refresh,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(finished_at as {{ dbt.type_timestamp() }}) as finished_at,
        started_date,
        cast(coalesce(rows_read, 0) as {{ dbt.type_bigint() }}) as rows_read,
        cast(coalesce(rows_written, 0) as {{ dbt.type_bigint() }}) as rows_written,
        cast(coalesce(rows_dlq, 0) as {{ dbt.type_bigint() }}) as rows_dlq,
        cast(source_rows as {{ dbt.type_bigint() }}) as source_rows,
        cast(bytes_written as {{ dbt.type_bigint() }}) as bytes_written,
        cast(stream_seconds as decimal(18, 3)) as stream_seconds,
        coalesce(is_reconciled, false) as is_reconciled,
        cast(reconciliation_status as {{ dbt.type_string() }}) as reconciliation_status
    from sync_streams
)

select * from final
