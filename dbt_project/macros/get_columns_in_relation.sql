{#- On DuckDB, sources are not tables: they are read straight from bronze Parquet through
    `meta.external_location`. dbt unit tests ask the database for the columns of a source
    they replace with a `format: dict` fixture, at the source's table name
    (`raw_<source>.<stream>`: a table on PostgreSQL, nothing on DuckDB), and fail when
    there is none. When the relation does not exist and is a source with an external
    location, describe that location instead; everything else goes to dbt-duckdb's own
    implementation, unchanged. -#}
{%- macro duckdb__get_columns_in_relation(relation) -%}
    {%- set location = _source_external_location(relation) -%}
    {%- if location and load_cached_relation(relation) is none -%}
        {% call statement('get_columns_in_relation', fetch_result=True) %}
            select
                column_name,
                column_type as data_type,
                cast(null as bigint) as character_maximum_length,
                cast(null as bigint) as numeric_precision,
                cast(null as bigint) as numeric_scale
            from (describe select * from {{ location }})
        {% endcall %}
        {{- return(sql_convert_columns_in_relation(load_result('get_columns_in_relation').table)) -}}
    {%- endif -%}
    {{- return(dbt.duckdb__get_columns_in_relation(relation)) -}}
{%- endmacro -%}

{#- The external location of the source table behind `relation`, or none. Only the default
    (`newstyle`) formatter with {name}, {identifier} and {schema} placeholders is resolved
    here; a source with another formatter or other placeholders is left to dbt-duckdb. -#}
{%- macro _source_external_location(relation) -%}
    {%- if not execute or graph is not defined -%}{{ return(none) }}{%- endif -%}
    {%- for node in graph.sources.values() -%}
        {%- if (node.schema | lower) == (relation.schema | lower)
            and (node.identifier | lower) == (relation.identifier | lower) -%}
            {%- set meta = {} -%}
            {%- do meta.update(node.source_meta or {}) -%}
            {%- do meta.update(node.meta or {}) -%}
            {%- set template = meta.get('external_location') -%}
            {%- if not template or meta.get('formatter', 'newstyle') != 'newstyle' -%}
                {{- return(none) -}}
            {%- endif -%}
            {%- set location = template | replace('{name}', node.name)
                | replace('{identifier}', node.identifier) | replace('{schema}', node.schema) -%}
            {{- return(none if '{' in location else location) -}}
        {%- endif -%}
    {%- endfor -%}
    {{- return(none) -}}
{%- endmacro -%}
