{#- Incremental models live as tables in the DuckDB file (dbt-duckdb's external
    materialization cannot be incremental); this post-hook copies the table to the lake
    as Parquet, in the folder the external models of its layer use (macros/
    external_location.sql: silver/<model> with Snappy, gold/<model> with ZSTD), so every
    layer in the lake stays complete for every reader. On PostgreSQL the schemas are the
    layers, so there is nothing to do.
    With unless_nothing_loaded, an incremental run that wrote no row keeps the lake's
    copy (for a model whose rows only ever change by delete+insert, no new row means no
    change; macros/loaded_rows.sql). -#}
{%- macro export_to_lake(unless_nothing_loaded=false) -%}
    {%- if target.type != 'duckdb' -%}
        select 1 as nothing_to_export
    {%- elif unless_nothing_loaded and is_incremental() and not rows_loaded_by_this_invocation() -%}
        select 1 as lake_copy_unchanged
    {%- else -%}
        {%- set gold = 'marts' in model.fqn -%}
        copy (select * from {{ this }})
        to '{{ lake_root() }}/{{ "gold" if gold else "silver" }}/{{ this.identifier }}'
        (
            format parquet,
            compression {{ 'zstd' if gold else 'snappy' }},
            per_thread_output true,
            {{ 'overwrite_or_ignore' if target.name == 'duckdb_s3' else 'overwrite' }} true
        )
    {%- endif -%}
{%- endmacro -%}
