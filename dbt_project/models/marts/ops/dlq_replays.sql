{#- One row per replay of dead letters and stream (gold, `lakehouse dlq replay`): the dead
    letters it took, those it landed in bronze, those still dead (back in the DLQ with
    their new reason), and whether the counts add up. -#}
with

runs as (
    select * from {{ ref('stg_ops__sync_runs') }}
    where run_kind = 'replay'
),

replay_streams as (
    select * from {{ ref('stg_ops__sync_streams') }}
),

final as (
    select
        cast(runs.sync_id as {{ dbt.type_string() }}) as replay_id,
        cast(runs.connection_name as {{ dbt.type_string() }}) as connection_name,
        cast(replay_streams.stream_name as {{ dbt.type_string() }}) as stream_name,
        cast(runs.sync_status as {{ dbt.type_string() }}) as replay_status,
        cast(runs.error_message as {{ dbt.type_string() }}) as error_message,
        cast(runs.started_at as {{ dbt.type_timestamp() }}) as replayed_at,
        cast(runs.duration_seconds as decimal(18, 3)) as duration_seconds,
        cast(coalesce(replay_streams.rows_read, 0) as {{ dbt.type_bigint() }})
            as dead_letters_taken,
        cast(coalesce(replay_streams.rows_written, 0) as {{ dbt.type_bigint() }})
            as records_landed,
        cast(coalesce(replay_streams.rows_dlq, 0) as {{ dbt.type_bigint() }})
            as dead_letters_left,
        -- a replay that failed committed nothing: only a finished one must add up
        case
            when runs.is_succeeded then coalesce(replay_streams.is_rows_balanced, true)
        end as is_balanced
    from runs
    left join replay_streams
        on runs.sync_id = replay_streams.sync_id
)

select * from final
