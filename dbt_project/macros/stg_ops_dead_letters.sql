{#- The staging of a folder of dead letters in the lake: the DLQ (bronze/_dlq) or the dead
    letters a replay took out of it (_ops/dlq_replayed). One row per record, with its
    connection and stream from the path <folder>/<connection>/<stream>/..., an id hashed
    from the file's path in the lake and the row's number in it, and its reason and the
    reason's kind. `table_name` is the `ops` source; `id_column` and `path_column` name
    the id and the file's path; `with_raw` keeps the record as read (raw_record). -#}
{%- macro stg_ops_dead_letters(table_name, folder, id_column, path_column, with_raw=true) -%}
{%- set depth = folder.split('/') | length -%}
with

dead_letters as (
    select * from {{ ops_source('ops', table_name) }}
),

located as (
    select
        *,
        -- the file's path inside the lake, whatever LAKE_ROOT is (a folder or a bucket)
        '{{ folder }}/' || split_part(filename, '/{{ folder }}/', 2) as {{ path_column }}
    from dead_letters
),

final as (
    select
        {{ dbt.hash(dbt.concat([
            path_column, "'#'", dbt.safe_cast('file_row_number', dbt.type_string())
        ])) }} as {{ id_column }},
        split_part({{ path_column }}, '/', {{ depth + 1 }}) as connection_name,
        split_part({{ path_column }}, '/', {{ depth + 2 }}) as stream_name,
        _sync_id as sync_id,
        reason as rejection_reason,
        {{ dead_letter_reason_kind('reason') }} as reason_kind,
        location as source_location,
        line_number as source_line_number,
        {%- if with_raw %}
        raw as raw_record,
        {%- endif %}
        {{ to_utc_timestamp('_extracted_at') }} as extracted_at,
        {{ path_column }},
        file_row_number
    from located
)

select * from final
{%- endmacro -%}
