{#- Formerly: the post-hook that copied an incremental model's table from the DuckDB file to
    the lake as Parquet after every build. On DuckDB silver and gold are now DuckLake
    tables whose files are in the lake already (docs/lake.md), so this only still copies
    a model built outside the DuckLake (none in this project); on PostgreSQL the schemas
    are the layers. Kept until the models' `post_hook` calls are removed.
    With unless_nothing_loaded, an incremental run that wrote no row keeps the lake's
    copy (macros/loaded_rows.sql). -#}
{%- macro export_to_lake(unless_nothing_loaded=false) -%}
    {%- if target.type != 'duckdb' or adapter.is_ducklake(this) -%}
        {#- a DuckLake table's files are in the lake already: nothing to copy -#}
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
