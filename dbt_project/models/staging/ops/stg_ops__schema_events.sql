{#- One row per schema-drift event: a sync saw a stream's column appear, disappear, widen
    or change type, or a required field missing. Unnested from the `events` array of
    _ops/events/schema documents; empty while no sync has seen drift. -#}
with

documents as (
    select * from {{ ops_source('ops', 'schema_events') }}
),

event_elements as (
    select
        documents.sync_id,
        documents.connection,
        elements.event_json
    from documents
    cross join lateral {{ ops_json_array_elements('documents.events') }} as elements (event_json)
),

final as (
    select
        sync_id,
        connection as connection_name,
        {{ ops_json_text('event_json', 'stream') }} as stream_name,
        {{ ops_json_text('event_json', 'kind') }} as event_kind,
        {{ ops_json_text('event_json', 'column') }} as column_name,
        {{ ops_json_text('event_json', 'detail') }} as event_detail,
        coalesce(
            cast({{ ops_json_text('event_json', 'records') }} as bigint), 0
        ) as affected_records
    from event_elements
)

select * from final
