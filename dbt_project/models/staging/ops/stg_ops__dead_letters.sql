{#- One row per dead letter (a record a sync could not land in bronze), with its
    connection and stream from the path bronze/_dlq/<connection>/<stream>/... -#}
with

dead_letters as (
    select * from {{ ops_source('ops', 'dead_letters') }}
),

located as (
    select
        *,
        -- the file's path inside the lake, whatever LAKE_ROOT is (a folder or a bucket)
        'bronze/_dlq/' || split_part(filename, '/bronze/_dlq/', 2) as dlq_file_path
    from dead_letters
),

final as (
    select
        {{ dbt.hash(dbt.concat([
            'dlq_file_path', "'#'", dbt.safe_cast('file_row_number', dbt.type_string())
        ])) }} as dead_letter_id,
        split_part(dlq_file_path, '/', 3) as connection_name,
        split_part(dlq_file_path, '/', 4) as stream_name,
        _sync_id as sync_id,
        reason as rejection_reason,
        {{ dead_letter_reason_kind('reason') }} as reason_kind,
        location as source_location,
        line_number as source_line_number,
        raw as raw_record,
        {{ to_utc_timestamp('_extracted_at') }} as extracted_at,
        dlq_file_path,
        file_row_number
    from located
)

select * from final
