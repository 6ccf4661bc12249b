{#- The column rules of one model in one scan: `not_null` columns hold no nulls and
    `non_negative` columns (amounts, counts) no value below zero. One test per model
    instead of one per column and rule: each test is a query and a node, and a few hundred
    of them cost more than the scans they make. Returns one row per broken rule with the
    column and its failing rows (nulls, negatives); the failure count is their sum.
    Marts declare their not-null columns as contract constraints instead: the database
    refuses a null on write, before a test could see it. -#}
{% test column_values(model, not_null=[], non_negative=[]) %}
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
