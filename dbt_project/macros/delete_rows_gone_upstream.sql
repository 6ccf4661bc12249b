{#- The post-hook that keeps an incremental model in step with what it is built from:
    after the merge, delete the rows whose key is gone from an upstream relation (deleted
    at the source, or dropped by an upstream model), so an incremental run leaves the
    same rows as a full refresh. `upstreams` is a list of (relation, key column) pairs;
    a row goes when its key is missing from any of them. Skipped on a full refresh,
    which builds from what is upstream now. -#}
{%- macro delete_rows_gone_upstream(upstreams) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as built where
        {%- for relation, key in upstreams %}
            {{ 'or ' if not loop.first }}not exists (
                select 1 from {{ relation }} as upstream
                where upstream.{{ key }} = built.{{ key }}
            )
        {%- endfor %}
    {%- endif -%}
{%- endmacro -%}
