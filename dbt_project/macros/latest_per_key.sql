{#- Keep the latest version of each key and drop keys whose latest version is a delete.
    Bronze may hold a record more than once (incremental syncs re-read the cursor's last
    value, CDC brings every change, full refreshes overlap on a crash). The order is the
    source position (the LSN, for CDC streams) and then the time of extraction.
    Portable SQL, no QUALIFY. With keep_deletes, a key whose latest version is a delete
    keeps that version (for incremental models, which must delete the key). -#}
{%- macro latest_per_key(
    relation,
    key_columns,
    order_by='_position desc nulls last, _extracted_at desc, _sync_id desc',
    keep_deletes=false
) -%}
    select * from (
        select
            *,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by {{ order_by }}
            ) as _version_rank
        from {{ relation }}
    ) as versions
    where _version_rank = 1{% if not keep_deletes %} and coalesce(_op, '') <> 'd'{% endif %}
{%- endmacro -%}
