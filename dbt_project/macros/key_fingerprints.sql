{#- Checksums first, the per-key comparison only when one differs: how the reconciliation
    tests compare two tables key by key without a hash aggregate over every key on every
    build (the idea of data-diff: compare checksums, diff only what disagrees).
    A key's weight is a hash of it below 2^61 - 1. The weighted sum of a column over one
    table, sum(weight(key) * value), equals the same sum over the other exactly when the
    per-key totals agree, unless the differences happen to cancel under those weights: for
    a given mismatch, a chance of the order of 2^-61. Each side is one streaming scan, and
    a sum over lines (weight of the line's order times its amount) is the sum over their
    orders of the per-order totals: no group by. When every sum agrees, the test need not
    compare key by key; when one differs, it does, and its failures name the rows as
    before (a difference the comparison tolerates, a null against 0, then passes there). -#}

{%- macro key_weight(columns) -%}
    {{ return(adapter.dispatch('key_weight')(columns)) }}
{%- endmacro -%}

{%- macro duckdb__key_weight(columns) -%}
    cast(hash({{ columns | join(', ') }}) % 2305843009213693951 as hugeint)
{%- endmacro -%}

{#- hashtextextended of the row's text form (a null and an empty string differ there), as
    numeric: times a bigint amount it would overflow a bigint -#}
{%- macro postgres__key_weight(columns) -%}
    cast(
        hashtextextended(row({{ columns | join(', ') }})::text, 0) % 2305843009213693951
        as numeric
    )
{%- endmacro -%}

{#- sum(weight(key columns) * value) over the rows, 0 over none; a null value counts as 0 -#}
{%- macro weighted_sum(columns, value='1') -%}
    coalesce(sum({{ key_weight(columns) }} * {{ value }}), 0)
{%- endmacro -%}

{#- Whether sum(weight(key) * value) is the same over `left` and `right`, each a relation
    and a value expression (a boolean expression of two scalar subqueries) -#}
{%- macro weighted_sums_equal(key, left, right) -%}
    (select {{ weighted_sum(key, left[1]) }} from {{ left[0] }})
    = (select {{ weighted_sum(key, right[1]) }} from {{ right[0] }})
{%- endmacro -%}

{#- Runs `comparisons`, a query of one row of boolean columns, and says whether every one is
    true. Only when dbt runs nodes (build, run, test): false while dbt parses, which
    records every ref of the whole comparison, and in `dbt compile` or SQLFluff, which
    show it. -#}
{%- macro sums_agree(comparisons) -%}
    {%- if not execute or flags.WHICH not in ('build', 'run', 'test') -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set row = run_query(comparisons).rows[0] -%}
    {{ return(row | reject | list | length == 0) }}
{%- endmacro -%}
