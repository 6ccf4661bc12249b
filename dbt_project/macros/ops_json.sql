{#- JSON helpers for the `_ops` models. The ops documents keep nested arrays (a sync's
    streams, a schema-drift document's events) in a JSON column: `json` on DuckDB (read
    with read_json), `jsonb` on PostgreSQL (tables in `raw_ops`). The models outside these
    macros stay portable. -#}

{#- A table function yielding one row per element of a JSON array, each a JSON value.
    Use it as a lateral join; a null or empty array yields no row:
        cross join lateral {{ ops_json_array_elements('runs.streams') }} as elements (element_json) -#}
{%- macro ops_json_array_elements(json_column) -%}
    {{- return(adapter.dispatch('ops_json_array_elements')(json_column)) -}}
{%- endmacro -%}

{#- PostgreSQL: json or jsonb, whichever the loader created -#}
{%- macro default__ops_json_array_elements(json_column) -%}
    jsonb_array_elements(cast({{ json_column }} as jsonb))
{%- endmacro -%}

{%- macro duckdb__ops_json_array_elements(json_column) -%}
    unnest(json_extract({{ json_column }}, '$[*]'))
{%- endmacro -%}

{#- The number of elements of a JSON array (0 for an empty one, null for null). -#}
{%- macro ops_json_array_length(json_column) -%}
    {{- return(adapter.dispatch('ops_json_array_length')(json_column)) -}}
{%- endmacro -%}

{%- macro default__ops_json_array_length(json_column) -%}
    jsonb_array_length(cast({{ json_column }} as jsonb))
{%- endmacro -%}

{%- macro duckdb__ops_json_array_length(json_column) -%}
    cast(json_array_length({{ json_column }}) as bigint)
{%- endmacro -%}

{#- The value of a key of a JSON object, as text (null when the key is missing or null).
    `->>` means the same on DuckDB's json and PostgreSQL's jsonb. -#}
{%- macro ops_json_text(json_column, key) -%}
    {{- return(adapter.dispatch('ops_json_text')(json_column, key)) -}}
{%- endmacro -%}

{%- macro default__ops_json_text(json_column, key) -%}
    ({{ json_column }} ->> '{{ key }}')
{%- endmacro -%}

{#- The value of a key of a JSON object, as JSON (`->`, on both engines). -#}
{%- macro ops_json_value(json_column, key) -%}
    {{- return(adapter.dispatch('ops_json_value')(json_column, key)) -}}
{%- endmacro -%}

{%- macro default__ops_json_value(json_column, key) -%}
    ({{ json_column }} -> '{{ key }}')
{%- endmacro -%}

{#- Now, as a UTC timestamp without time zone, whatever the session's time zone
    (`at time zone` means the same on both engines; DuckDB's comes with ICU). -#}
{%- macro ops_utc_now() -%}
    {{- return(adapter.dispatch('ops_utc_now')()) -}}
{%- endmacro -%}

{%- macro default__ops_utc_now() -%}
    cast(now() at time zone 'UTC' as {{ dbt.type_timestamp() }})
{%- endmacro -%}

