{#- One row per sale message of the `sales_events` topic: the message's partition and
    offset are its key, so a message landed twice counts once (latest_per_key).
    Incremental (delete+insert on partition and offset): a run re-reads the bronze rows
    landed from `events_landing_lookback_minutes` (var, default 10) before the newest one
    already staged. The lookback is on landing time, not event time: a build runs while
    the stream commits its next window, and may see only some of that window's files;
    the rest, landed with the same _extracted_at, are picked up by the next build instead
    of being skipped. Late events (an old occurred_at) need no lookback here: they are
    staged when they land, whatever their time. Sales without a time, a product, an amount
    or a currency cannot be placed or summed and are left out (the reconciliation test counts
    them apart). -#}
{{ config(
    materialized='incremental',
    unique_key=['kafka_partition', 'kafka_offset'],
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}

with

landed as not materialized (
    select * from {{ ops_source('events', 'sales_events') }}
    {% if is_incremental() -%}
        where _extracted_at >= coalesce({{ lookback_cutoff(
            '_extracted_at', 'minute', 'events_landing_lookback_minutes', 10
        ) }}, cast('1970-01-01 00:00:00' as {{ dbt.type_timestamp() }}))
    {%- endif %}
),

source as not materialized (
    select * from landed
    where
        _kafka_partition is not null
        and _kafka_offset is not null
        and occurred_at is not null
        and product_id is not null
        and amount_cents is not null
        and currency is not null
),

latest as (
    {{ latest_per_key('source', ['_kafka_partition', '_kafka_offset']) }}
),

final as (
    select
        cast(_kafka_partition as integer) as kafka_partition,
        cast(_kafka_offset as bigint) as kafka_offset,
        event_id,
        {{ to_utc_timestamp('occurred_at') }} as occurred_at,
        order_id,
        customer_id,
        product_id,
        merchant_id,
        cast(quantity as bigint) as quantity,
        cast(amount_cents as bigint) as amount_cents,
        upper(trim(currency)) as currency_code,
        upper(trim(region)) as region_code,
        {{ to_utc_timestamp('_kafka_timestamp') }} as published_at,
        _sync_id,
        _extracted_at,
        {{ to_utc_timestamp('_extracted_at') }} as landed_at
    from latest
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
