{#- Use the configured schema name as is (staging, intermediate, marts) instead of
    prefixing it with the target schema: the layers read the same on every target. -#}
{%- macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro -%}
