{#- The lower bound of what an incremental run reloads: the newest `cursor_column` already
    in the model minus a lookback window (a number of `datepart`s from the var `window_var`),
    so late-arriving changes within the window are picked up again. A scalar subquery. -#}
{%- macro lookback_cutoff(cursor_column, datepart, window_var, default_window) -%}
    (
        select
            {{ dbt.dateadd(
                datepart,
                -1 * var(window_var, default_window),
                'max(' ~ cursor_column ~ ')'
            ) }}
        from {{ this }}
    )
{%- endmacro -%}
