{#- One row per alert the pipeline raised (gold): failed runs, failed checks, empty full
    refreshes. An alert is active for var ops_alert_active_hours (default 24) after it was
    raised, as of the build (measured_at): alerts are not acknowledged, they age out. -#}
with

alerts as (
    select * from {{ ref('stg_ops__alerts') }}
),

measured as (
    select {{ ops_utc_now() }} as measured_at
),

final as (
    select
        cast(alerts.alert_id as {{ dbt.type_string() }}) as alert_id,
        cast(alerts.alert_kind as {{ dbt.type_string() }}) as alert_kind,
        cast(alerts.alert_title as {{ dbt.type_string() }}) as alert_title,
        cast(alerts.created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(
            {{ dbt.datediff(
                'alerts.created_at', 'measured.measured_at', 'second'
            ) }} / 3600.0
            as decimal(12, 2)
        ) as hours_since_raised,
        {%- set active_hours = var('ops_alert_active_hours', 24) %}
        alerts.created_at
        >= {{ dbt.dateadd('hour', -active_hours, 'measured.measured_at') }} as is_active,
        cast(alerts.webhook_delivery as {{ dbt.type_string() }}) as webhook_delivery,
        cast(measured.measured_at as {{ dbt.type_timestamp() }}) as measured_at
    from alerts
    cross join measured
)

select * from final
