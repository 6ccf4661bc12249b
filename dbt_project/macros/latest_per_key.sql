{#- Keep the latest version of each key: bronze may hold a record more than once
    (reruns, overlapping full refreshes, incremental syncs). Portable SQL, no QUALIFY. -#}
{%- macro latest_per_key(relation, key_columns, order_by='_extracted_at desc') -%}
    select * from (
        select
            *,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by {{ order_by }}
            ) as _version_rank
        from {{ relation }}
    ) as versions
    where _version_rank = 1
{%- endmacro -%}
