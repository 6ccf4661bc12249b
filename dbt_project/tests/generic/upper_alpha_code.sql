{#- Codes such as ISO 4217 currencies (3 letters) and ISO 3166-1 alpha-2 countries
    (2 letters): exactly `length` upper-case letters A-Z. Nulls pass (test them with
    not_null). Portable: `translate` strips the letters, whatever is left is wrong.
    The check runs once per distinct code, not once per row (a code column holds a few
    hundred values over millions of rows); each failing code is returned with its rows. -#}
{% test upper_alpha_code(model, column_name, length) %}
    with codes as (
        select
            {{ column_name }} as code,
            count(*) as rows_with_code
        from {{ model }}
        where {{ column_name }} is not null
        group by {{ column_name }}
    )

    select
        code,
        rows_with_code
    from codes
    where
        {{ dbt.length('code') }} != {{ length }}
        or {{ dbt.length("translate(code, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '')") }} != 0
{% endtest %}
