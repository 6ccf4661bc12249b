{#- The runs of the `hours` hours before the build, per `keys`: how many (run_count), how
    many did not succeed (failed_run_count), the median, 99th percentile and maximum of
    `seconds_column` (seconds_p50, seconds_p99, seconds_max), and for each column of
    `succeeded_sums` its sum over the runs that succeeded (named as the column). A select
    for a CTE of an ops mart: `runs` has started_at and is_succeeded, and the mart has a
    one-row `measured` CTE with measured_at (the build's time). Runs with no run in the
    window get no row: read the counts through coalesce(..., 0). -#}
{%- macro ops_runs_in_window(runs, keys, seconds_column, hours=24, succeeded_sums=[]) -%}
    select
        {%- for key in keys %}
        {{ runs }}.{{ key }},
        {%- endfor %}
        count(*) as run_count,
        sum(case when {{ runs }}.is_succeeded then 0 else 1 end) as failed_run_count,
        {%- for column in succeeded_sums %}
        sum(case when {{ runs }}.is_succeeded then {{ runs }}.{{ column }} else 0 end)
            as {{ column }},
        {%- endfor %}
        percentile_cont(0.5) within group (order by {{ runs }}.{{ seconds_column }})
            as seconds_p50,
        percentile_cont(0.99) within group (order by {{ runs }}.{{ seconds_column }})
            as seconds_p99,
        max({{ runs }}.{{ seconds_column }}) as seconds_max
    from {{ runs }}
    cross join measured
    where {{ runs }}.started_at >= {{ dbt.dateadd('hour', -1 * hours, 'measured.measured_at') }}
    group by
        {%- for key in keys %}
        {{ runs }}.{{ key }}{{ ',' if not loop.last }}
        {%- endfor %}
{%- endmacro -%}
