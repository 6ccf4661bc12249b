{#- Incremental marts live as tables in the DuckDB file (dbt-duckdb's external
    materialization cannot be incremental); this post-hook copies the table to
    gold/<model> as ZSTD Parquet, so gold in the lake stays complete for every reader.
    On PostgreSQL the marts schema is the serving layer, so there is nothing to do. -#}
{%- macro export_to_gold() -%}
    {%- if target.type == 'duckdb' -%}
        copy (select * from {{ this }})
        to '{{ lake_root() }}/gold/{{ this.identifier }}'
        (
            format parquet, compression zstd, per_thread_output true,
            {{ 'overwrite_or_ignore' if target.name == 'duckdb_s3' else 'overwrite' }} true
        )
    {%- else -%}
        select 1 as nothing_to_export
    {%- endif -%}
{%- endmacro -%}
