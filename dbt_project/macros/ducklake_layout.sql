{#- On DuckDB, silver and gold are tables of the lake's DuckLake (attached as `lake` by the
    profile). DuckLake keeps a schema's data files in a folder named after the schema; this
    lays them out as the lake's layers instead (docs/lake.md): `intermediate` in silver/
    (Snappy), `marts` in gold/ (ZSTD). dbt creates the schemas before on-run-start; a
    schema's folder is set while it has never held a table (the file paths of its tables are
    relative to it), so this acts once, on the first build of a lake, and is a no-op after
    (and on other engines). Every row goes to Parquet (none inlined in the catalog), so the
    files hold all the data. The folders and codecs mirror lake/tables/catalog.py. -#}
{%- macro ducklake_layout() -%}
    {%- if target.type == 'duckdb' and execute -%}
        {%- set layers = {'intermediate': ('silver', 'snappy'), 'marts': ('gold', 'zstd')} -%}
        {%- set metadata = '__ducklake_metadata_lake' -%}
        {%- set found = run_query(
            "select schema_name from " ~ metadata ~ ".ducklake_schema as s "
            ~ "where end_snapshot is null and not exists (select 1 from " ~ metadata
            ~ ".ducklake_table as t where t.schema_id = s.schema_id)"
        ) -%}
        {%- set empty = found.columns[0].values() | list -%}
        {%- for schema, (folder, codec) in layers.items() if schema in empty -%}
            {%- do run_query(
                "update " ~ metadata ~ ".ducklake_schema set path = '" ~ folder
                ~ "/', path_is_relative = true where schema_name = '" ~ schema
                ~ "' and end_snapshot is null"
            ) -%}
            {%- do run_query(
                "call lake.set_option('parquet_compression', '" ~ codec ~ "', schema => '"
                ~ schema ~ "')"
            ) -%}
            {%- do run_query("call lake.set_option('data_inlining_row_limit', 0)") -%}
        {%- endfor -%}
        {%- if empty -%}
            {#- a new snapshot: DuckLake reloads its cached schemas (and their paths) only
                when the catalog has moved on; the view says where each schema's files are -#}
            {%- do run_query(
                "create or replace view lake.main.lake_layout as select * from (values "
                ~ "('intermediate', 'silver/'), ('marts', 'gold/')) as layout (dbt_schema, folder)"
            ) -%}
        {%- endif -%}
        {%- do adapter.commit() -%}
    {%- endif -%}
    select 1 as lake_laid_out
{%- endmacro -%}
