{#- The start of the fixed window of `minutes` minutes that a UTC timestamp (without time
    zone) falls in, aligned on the hour (so 5 minutes gives :00, :05, :10 ...), as a
    timestamp. `minutes` must divide 60. Windows are half-open: 10:04:59.999 is in the
    10:00 window, 10:05:00 starts the next one.
    DuckDB: time_bucket (its default origin, 2000-01-03 00:00, is on the hour);
    PostgreSQL 14+: date_bin with an explicit origin on the hour. -#}
{%- macro clickstream_time_bucket(column, minutes) -%}
    {{- return(adapter.dispatch('clickstream_time_bucket')(column, minutes)) -}}
{%- endmacro -%}

{%- macro default__clickstream_time_bucket(column, minutes) -%}
    date_bin(interval '{{ minutes }} minutes', {{ column }}, timestamp '2000-01-01 00:00:00')
{%- endmacro -%}

{%- macro duckdb__clickstream_time_bucket(column, minutes) -%}
    time_bucket(interval '{{ minutes }} minutes', {{ column }})
{%- endmacro -%}
