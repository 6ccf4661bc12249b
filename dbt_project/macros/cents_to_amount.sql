{#- Minor units (cents) to a decimal amount, exact on every engine. -#}
{%- macro cents_to_amount(column) -%}
    cast({{ column }} as decimal(18, 2)) / 100
{%- endmacro -%}
