{#- The grain of a model that is keyed on several columns: no two rows share them. -#}
{% test unique_combination(model, combination) %}
    select {{ combination | join(', ') }}, count(*) as n_rows
    from {{ model }}
    group by {{ combination | join(', ') }}
    having count(*) > 1
{% endtest %}
