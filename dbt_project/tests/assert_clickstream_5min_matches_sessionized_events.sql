{#- Every human event is counted once in clickstream_5min: the total per day equals the
    events of int_clickstream_sessionized that day (days the incremental lookback has not
    reached yet excepted: none after a build). Returns the days that differ. -#}

{# reads several models: Dagster shows it as an asset check of this one #}
{{ config(meta={"dagster": {"ref": {"name": "clickstream_5min"}}}) }}
with

windows as (
    select
        window_date,
        sum(event_count) as event_count
    from {{ ref('clickstream_5min') }}
    group by window_date
),

events as (
    select
        cast(occurred_at as date) as event_date,
        count(*) as event_count
    from {{ ref('int_clickstream_sessionized') }}
    group by cast(occurred_at as date)
),

final as (
    select
        coalesce(windows.window_date, events.event_date) as event_date,
        windows.event_count as counted_in_windows,
        events.event_count as human_events
    from windows
    full outer join events
        on windows.window_date = events.event_date
    where
        windows.event_count is null
        or events.event_count is null
        or windows.event_count != events.event_count
)

select * from final
