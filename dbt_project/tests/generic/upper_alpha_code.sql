{#- Codes such as ISO 4217 currencies (3 letters) and ISO 3166-1 alpha-2 countries
    (2 letters): exactly `length` upper-case letters A-Z. Nulls pass (test them with
    not_null). Portable: `translate` strips the letters, whatever is left is wrong. -#}
{% test upper_alpha_code(model, column_name, length) %}
    select {{ column_name }}
    from {{ model }}
    where
        {{ column_name }} is not null
        and (
            {{ dbt.length(column_name) }} != {{ length }}
            or {{ dbt.length("translate(" ~ column_name ~ ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', '')") }} != 0
        )
{% endtest %}
