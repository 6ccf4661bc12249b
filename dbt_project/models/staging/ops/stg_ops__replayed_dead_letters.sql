{#- One row per dead letter a replay took out of the DLQ (lakehouse dlq replay): it was
    landed in bronze then, or written to the DLQ again with a new reason. The connection
    and stream come from the path _ops/dlq_replayed/<connection>/<stream>/... -#}
with

replayed as (
    select * from {{ ops_source('ops', 'replayed_dead_letters') }}
),

located as (
    select
        *,
        '_ops/dlq_replayed/' || split_part(filename, '/_ops/dlq_replayed/', 2) as replayed_file_path
    from replayed
),

final as (
    select
        {{ dbt.hash(dbt.concat([
            'replayed_file_path', "'#'", dbt.safe_cast('file_row_number', dbt.type_string())
        ])) }} as replayed_dead_letter_id,
        split_part(replayed_file_path, '/', 3) as connection_name,
        split_part(replayed_file_path, '/', 4) as stream_name,
        _sync_id as sync_id,
        reason as rejection_reason,
        {{ dead_letter_reason_kind('reason') }} as reason_kind,
        location as source_location,
        line_number as source_line_number,
        {{ to_utc_timestamp('_extracted_at') }} as extracted_at,
        replayed_file_path,
        file_row_number
    from located
)

select * from final
