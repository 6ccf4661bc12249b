{#- Where the lake lives: a folder or s3://bucket/prefix. `lakehouse` sets LAKE_ROOT;
    the default is the embedded demo's lake, relative to this project. (Source YAML
    repeats the same env_var, because YAML cannot call project macros.) -#}
{%- macro lake_root() -%}
    {{- env_var('LAKE_ROOT', '../data/lake') -}}
{%- endmacro -%}
