{#- The window frame of a point-in-time feature: the rows of the partition whose order
    value is in [t - `hours` hours, t), t being the current row's value. Rows at exactly t
    (the current row and its peers) are excluded, so a feature computed at t never sees an
    event of the same instant; a row at exactly t - `hours` is included. The order column
    must be a timestamp. DuckDB and PostgreSQL (11+) share the standard syntax; an engine
    without EXCLUDE GROUP (Spark) needs its own version of this macro. -#}
{%- macro window_before(hours) -%}
    {{- return(adapter.dispatch('window_before')(hours)) -}}
{%- endmacro -%}

{%- macro default__window_before(hours) -%}
    range between interval '{{ hours | int }} hours' preceding and current row exclude group
{%- endmacro -%}
