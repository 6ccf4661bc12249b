{#- Sales per minute (UTC, the minute the sale happened), buyer region, product and
    currency: the near-real-time mart of the live sales dashboard. Money stays integer
    cents of the sale's currency (a product sells in its merchant's currency, so a
    product's rows have one currency); no FX conversion, which would need the batch FX
    feed.
    Incremental (delete+insert on the grain): a run recomputes every minute that a sale
    landed since the last build falls in, from all of staging, so a late event (an old
    occurred_at, a stream catching up on a backlog) is counted in its own minute however
    late it is. "Landed since the last build" looks back `events_landing_lookback_minutes`
    (var, default 10) before the newest landing already counted, so a window the stream
    was committing during the last build is counted whole. On DuckDB a DuckLake
    table in gold: the merge writes only the recomputed minutes (docs/lake.md). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['sale_minute_at', 'region_code', 'product_id', 'currency_code'],
        on_schema_change='append_new_columns'
    )
}}

with

sales as (
    select
        {{ dbt.date_trunc('minute', 'occurred_at') }} as sale_minute_at,
        -- ZZ: ISO 3166 user-assigned code for an unknown country (keeps the key non-null)
        coalesce(region_code, 'ZZ') as region_code,
        product_id,
        currency_code,
        quantity,
        amount_cents,
        landed_at
    from {{ ref('stg_events__sales_events') }}
),

{% if is_incremental() %}
minutes_with_new_sales as (
    select distinct sale_minute_at
    from sales
    where landed_at >= coalesce({{ lookback_cutoff(
        'last_landed_at', 'minute', 'events_landing_lookback_minutes', 10
    ) }}, cast('1970-01-01 00:00:00' as {{ dbt.type_timestamp() }}))
),
{% endif %}

rebuilt as (
    select sales.*
    from sales
    {% if is_incremental() -%}
        inner join minutes_with_new_sales
            on sales.sale_minute_at = minutes_with_new_sales.sale_minute_at
    {%- endif %}
),

final as (
    select
        cast(sale_minute_at as timestamp) as sale_minute_at,
        cast(sale_minute_at as date) as sale_date,
        cast(region_code as varchar) as region_code,
        cast(product_id as bigint) as product_id,
        cast(currency_code as varchar) as currency_code,
        cast(count(*) as bigint) as sales_count,
        cast(sum(coalesce(quantity, 0)) as bigint) as units,
        cast(sum(amount_cents) as bigint) as revenue_cents,
        {{ cents_to_amount('sum(amount_cents)') }} as revenue,
        cast(max(landed_at) as timestamp) as last_landed_at
    from rebuilt
    group by sale_minute_at, region_code, product_id, currency_code
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
