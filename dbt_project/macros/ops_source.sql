{#- `source()` for the `_ops` documents, which may not exist yet: the first dbt build of a
    fresh lake runs before any `_ops/dbt` file, schema-drift documents appear only with
    drift, the DLQ only with a rejected record. DuckDB's read_json / read_parquet fail on a
    glob that matches nothing, and a PostgreSQL table the loader has not created yet fails
    too. So at run time this checks that the source has data and otherwise renders an
    empty relation with the source's documented columns and types (the `data_type` of
    each column in _ops__sources.yml, which must match what the reader yields).

    DuckDB: the source's `meta.lake_glob` is the pattern its `external_location` reads;
    it is checked with the glob() table function (works for s3:// through httpfs too).
    PostgreSQL: the table `raw_ops.<table>` must exist.

    `source()` is always called, so lineage and the manifest stay the same; in a unit test
    (the source is a fixture, not an external location) the source is returned as is. -#}
{%- macro ops_source(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute -%}
        {{- return(relation) -}}
    {%- endif -%}
    {%- if adapter.dispatch('ops_source_has_data')(relation, source_name, table_name) -%}
        {{- return(relation) -}}
    {%- endif -%}
    {%- do log('ops_source: no data yet for ' ~ source_name ~ '.' ~ table_name ~ '; reading it as empty', info=false) -%}
    {{- return(ops_empty_relation(ops_source_node(source_name, table_name))) -}}
{%- endmacro -%}

{%- macro ops_source_node(source_name, table_name) -%}
    {{- return(graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name]) -}}
{%- endmacro -%}

{%- macro duckdb__ops_source_has_data(relation, source_name, table_name) -%}
    {%- if relation.external is none -%}
        {{- return(true) -}}
    {%- endif -%}
    {%- set node = ops_source_node(source_name, table_name) -%}
    {%- set pattern = node.meta.get('lake_glob') or node.source_meta.get('lake_glob') -%}
    {%- if not pattern -%}
        {{- exceptions.raise_compiler_error(
            'source ' ~ node.source_name ~ '.' ~ node.name ~ ': meta.lake_glob is missing (the glob its external_location reads)'
        ) -}}
    {%- endif -%}
    {%- set found = run_query("select count(*) from glob('" ~ pattern | replace("'", "''") ~ "')") -%}
    {{- return(found.columns[0].values()[0] > 0) -}}
{%- endmacro -%}

{%- macro default__ops_source_has_data(relation, source_name, table_name) -%}
    {%- if relation.schema is none or relation.identifier is none -%}
        {{- return(true) -}}
    {%- endif -%}
    {%- set existing = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier
    ) -%}
    {{- return(existing is not none) -}}
{%- endmacro -%}

{#- A relation with no rows and the source's documented columns. Types are written the
    DuckDB way in the YAML (varchar, bigint, double, boolean, json, timestamp); other
    engines get their equivalent. -#}
{%- macro ops_empty_relation(node) -%}
    {%- set columns = node.columns.values() | list -%}
    {%- if columns | length == 0 -%}
        {{- exceptions.raise_compiler_error(
            'source ' ~ node.source_name ~ '.' ~ node.name ~ ': document its columns with data_type in the sources YAML'
        ) -}}
    {%- endif -%}
    (
        select
        {%- for column in columns %}
            cast(null as {{ ops_column_type(column.data_type or 'varchar') }}) as {{ adapter.quote(column.name) }}{{ ',' if not loop.last }}
        {%- endfor %}
        where 1 = 0
    ) as {{ node.name }}_empty
{%- endmacro -%}

{%- macro ops_column_type(data_type) -%}
    {{- return(adapter.dispatch('ops_column_type')(data_type)) -}}
{%- endmacro -%}

{%- macro default__ops_column_type(data_type) -%}
    {%- set types = {'json': 'jsonb', 'double': 'double precision', 'varchar': 'text'} -%}
    {{- return(types.get(data_type | lower, data_type)) -}}
{%- endmacro -%}

{%- macro duckdb__ops_column_type(data_type) -%}
    {{- return(data_type) -}}
{%- endmacro -%}
