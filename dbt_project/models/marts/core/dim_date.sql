{#- One row per calendar day over the reporting period (vars date_spine_start/end),
    portable across DuckDB and PostgreSQL through dbt's date_spine. -#}
with

days as (
    {{ dbt.date_spine(
        datepart='day',
        start_date="cast('" ~ var('date_spine_start') ~ "' as date)",
        end_date="cast('" ~ var('date_spine_end') ~ "' as date)"
    ) }}
),

final as (
    select
        cast(date_day as date) as date_day,
        cast(extract(year from date_day) as integer) as year_number,
        cast(extract(quarter from date_day) as integer) as quarter_number,
        cast(extract(month from date_day) as integer) as month_number,
        cast(extract(day from date_day) as integer) as day_of_month,
        -- ISO: Monday = 1 ... Sunday = 7
        cast(extract(isodow from date_day) as integer) as iso_day_of_week,
        cast(extract(week from date_day) as integer) as iso_week_number,
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start_date,
        cast({{ dbt.date_trunc('week', 'date_day') }} as date) as week_start_date,
        extract(isodow from date_day) in (6, 7) as is_weekend
    from days
)

select * from final
