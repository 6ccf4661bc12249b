{#- Where external (Parquet) models land in the lake: intermediate models in silver,
    marts in gold, one folder per model. Overrides dbt-duckdb's default (a flat file
    under external_root). -#}
{%- macro external_location(relation, config) -%}
    {%- set layer = 'gold' if 'marts' in model.fqn else 'silver' -%}
    {{- lake_root() }}/{{ layer }}/{{ relation.identifier -}}
{%- endmacro -%}
