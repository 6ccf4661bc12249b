{#- One row per connection, stream and kind of reason (gold): the dead letters the DLQ
    holds now, and those replays took out of it, with the oldest and newest and one
    example of the full reason. What `lakehouse dlq list` shows, for the dashboard. -#}
with

dead_letters as (
    select * from {{ ref('stg_ops__dead_letters') }}
),

replayed as (
    select * from {{ ref('stg_ops__replayed_dead_letters') }}
),

waiting as (
    select
        connection_name,
        stream_name,
        reason_kind,
        count(*) as dead_letters,
        min(extracted_at) as first_extracted_at,
        max(extracted_at) as last_extracted_at,
        max(rejection_reason) as example_reason,
        max(source_location) as example_location
    from dead_letters
    group by connection_name, stream_name, reason_kind
),

replayed_per_kind as (
    select
        connection_name,
        stream_name,
        reason_kind,
        count(*) as replayed_dead_letters
    from replayed
    group by connection_name, stream_name, reason_kind
),

kinds as (
    select
        connection_name,
        stream_name,
        reason_kind
    from waiting
    union
    select
        connection_name,
        stream_name,
        reason_kind
    from replayed_per_kind
),

final as (
    select
        cast(kinds.connection_name as {{ dbt.type_string() }}) as connection_name,
        cast(kinds.stream_name as {{ dbt.type_string() }}) as stream_name,
        cast(kinds.reason_kind as {{ dbt.type_string() }}) as reason_kind,
        cast(coalesce(waiting.dead_letters, 0) as {{ dbt.type_bigint() }}) as dead_letters,
        cast(
            coalesce(replayed_per_kind.replayed_dead_letters, 0) as {{ dbt.type_bigint() }}
        ) as replayed_dead_letters,
        cast(waiting.first_extracted_at as {{ dbt.type_timestamp() }}) as first_extracted_at,
        cast(waiting.last_extracted_at as {{ dbt.type_timestamp() }}) as last_extracted_at,
        cast(waiting.example_reason as {{ dbt.type_string() }}) as example_reason,
        cast(waiting.example_location as {{ dbt.type_string() }}) as example_location
    from kinds
    left join waiting
        on
            kinds.connection_name = waiting.connection_name
            and kinds.stream_name = waiting.stream_name
            and kinds.reason_kind = waiting.reason_kind
    left join replayed_per_kind
        on
            kinds.connection_name = replayed_per_kind.connection_name
            and kinds.stream_name = replayed_per_kind.stream_name
            and kinds.reason_kind = replayed_per_kind.reason_kind
)

select * from final
