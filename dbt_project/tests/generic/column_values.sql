{#- The column rules of one model in one scan: `not_null` columns hold no nulls,
    `non_negative` columns (amounts, counts) no value below zero, `unique` columns no value
    twice, `accepted_values` columns ({column: [values]}) only those values, and `codes`
    columns ({column: length}) codes such as ISO 4217 currencies (3) and ISO 3166-1 alpha-2
    countries (2): exactly that many upper-case letters A-Z. Nulls pass every rule but
    not_null. One test per model instead of one per column and rule: each test is a query
    and a node, and a few hundred of them cost more than the scans they make. Returns one
    row per broken rule with the column and its failing rows (nulls, negatives, rows beyond
    the first of a repeated value, rows with another value or a malformed code); the
    failure count is their sum. Marts declare their not-null columns as contract
    constraints instead: the database refuses a null on write, before a test could see it.
    Strings in accepted_values are quoted, numbers and booleans are not. -#}
{% test column_values(
    model, not_null=[], non_negative=[], unique=[], accepted_values={}, codes={}
) %}
    {{ config(fail_calc="coalesce(sum(failing_rows), 0)") }}
    {%- set rules = [] -%}
    {%- for column in not_null -%}
        {%- do rules.append(("not_null", column, "count(*) - count(" ~ column ~ ")")) -%}
    {%- endfor -%}
    {%- for column in non_negative -%}
        {%- do rules.append(
            ("non_negative", column, "count(case when " ~ column ~ " < 0 then 1 end)")
        ) -%}
    {%- endfor -%}
    {#- reading only the loaded rows (macros/loaded_rows.sql), a value unique beyond the
        key could repeat one of an older row: those rows are counted in the whole table -#}
    {%- set loaded_into = loaded_rows_table() -%}
    {%- for column in unique -%}
        {%- set repeats = "count(" ~ column ~ ") - count(distinct " ~ column ~ ")" -%}
        {%- if loaded_into and loaded_into.unique_key != [column] -%}
            {%- set repeats = "(select " ~ repeats ~ " from " ~ loaded_into.relation
                ~ " where " ~ column ~ " in (select " ~ column ~ " from " ~ model ~ "))" -%}
        {%- endif -%}
        {%- do rules.append(("unique", column, repeats)) -%}
    {%- endfor -%}
    {%- for column, values in accepted_values.items() -%}
        {%- set literals = [] -%}
        {%- for value in values -%}
            {%- if value is string -%}
                {%- do literals.append("'" ~ value | replace("'", "''") ~ "'") -%}
            {%- elif value is boolean -%}
                {%- do literals.append("true" if value else "false") -%}
            {%- else -%}
                {%- do literals.append(value | string) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do rules.append((
            "accepted_values",
            column,
            "count(case when " ~ column ~ " not in (" ~ literals | join(", ") ~ ") then 1 end)"
        )) -%}
    {%- endfor -%}
    {%- for column, length in codes.items() -%}
        {%- set letters_left = dbt.length(
            "translate(" ~ column ~ ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '')"
        ) -%}
        {%- do rules.append((
            "code",
            column,
            "count(case when " ~ dbt.length(column) ~ " != " ~ length
            ~ " or " ~ letters_left ~ " != 0 then 1 end)"
        )) -%}
    {%- endfor -%}
    {%- if not rules -%}
        {{ exceptions.raise_compiler_error("column_values on " ~ model ~ ": no columns") }}
    {%- endif %}
    with counted as (
        select
        {%- for rule, column, failing in rules %}
            {{ failing }} as rule_{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
        from {{ model }}
    )

    {% for rule, column, failing in rules -%}
        select
            '{{ column }}' as column_name,
            '{{ rule }}' as rule_broken,
            rule_{{ loop.index }} as failing_rows
        from counted
        where rule_{{ loop.index }} > 0
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
{% endtest %}
