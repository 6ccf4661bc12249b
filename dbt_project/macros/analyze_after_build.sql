{#- PostgreSQL plans from table statistics, and a table dbt has just replaced or merged
    into has stale ones (or none): after a merge the new rows' `_dbt_invocation_id` is a
    value the statistics have never seen, so the planner expects one row where there are
    thousands and picks a nested loop; a relationships test of the changed rows then
    scanned the whole parent once per row (96 s for stg_shop__refunds at scale 1).
    ANALYZE samples a fixed number of rows, a fraction of a second per table. DuckDB
    keeps its statistics up to date as it writes: nothing to do there. -#}
{%- macro analyze_after_build() -%}
    {%- if target.type == 'postgres' and config.get('materialized') in ('table', 'incremental', 'snapshot') -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro -%}
