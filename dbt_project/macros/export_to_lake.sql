{#- Incremental models live as tables in the DuckDB file (dbt-duckdb's external
    materialization cannot be incremental); this post-hook copies the table to the lake
    as Parquet, in the folder the external models of its layer use (macros/
    external_location.sql: silver/<model> with Snappy, gold/<model> with ZSTD), so every
    layer in the lake stays complete for every reader. On PostgreSQL the schemas are the
    layers, so there is nothing to do. -#}
{%- macro export_to_lake() -%}
    {%- if target.type == 'duckdb' -%}
        {%- set gold = 'marts' in model.fqn -%}
        copy (select * from {{ this }})
        to '{{ lake_root() }}/{{ "gold" if gold else "silver" }}/{{ this.identifier }}'
        (
            format parquet,
            compression {{ 'zstd' if gold else 'snappy' }},
            per_thread_output true,
            {{ 'overwrite_or_ignore' if target.name == 'duckdb_s3' else 'overwrite' }} true
        )
    {%- else -%}
        select 1 as nothing_to_export
    {%- endif -%}
{%- endmacro -%}
