{#- One row per alert the pipeline raised (a failed run, failed checks, an empty full
    refresh), from _ops/alerts. Empty while nothing has been raised. -#}
with

alerts as (
    select * from {{ ops_source('ops', 'alerts') }}
),

final as (
    select
        {{ dbt.hash(dbt.concat(['created_at', "'#'", 'kind', "'#'", 'title'])) }} as alert_id,
        kind as alert_kind,
        title as alert_title,
        {{ ops_json_array_length('lines') }} as detail_line_count,
        {{ to_utc_timestamp('created_at') }} as created_at,
        webhook as webhook_delivery
    from alerts
)

select * from final
