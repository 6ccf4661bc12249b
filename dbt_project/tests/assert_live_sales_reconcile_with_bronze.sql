{#- The live sales mart holds exactly the sales that reached bronze: per currency, its
    sales, units and cents equal those of the distinct messages (partition and offset)
    in bronze that have a time, a product, an amount and a currency, counted here
    straight from the source, independently of staging's dedup. Bronze is read up to the
    newest landing the mart has counted: the stream keeps landing windows while dbt
    builds and tests (`make demo-stream`). Caveat: a window whose files a build saw only
    in part (one stream's window written as several files, committed during the build)
    fails this test until the next build counts the rest. Fails with both sides for each
    currency that differs. -#}

{{ config(tags=['streaming'], meta={"dagster": {"ref": {"name": "live_sales_per_minute"}}}) }}
with

messages as (
    select
        _kafka_partition,
        _kafka_offset,
        max(coalesce(quantity, 0)) as quantity,
        max(amount_cents) as amount_cents,
        max(upper(trim(currency))) as currency_code
    from {{ ops_source('events', 'sales_events') }}
    where
        _kafka_partition is not null
        and _kafka_offset is not null
        and occurred_at is not null
        and product_id is not null
        and amount_cents is not null
        and currency is not null
        and {{ to_utc_timestamp('_extracted_at') }} <= (
            select max(counted.last_landed_at)
            from {{ ref('live_sales_per_minute') }} as counted
        )
    group by _kafka_partition, _kafka_offset
),

bronze as (
    select
        currency_code,
        count(*) as sales_count,
        sum(quantity) as units,
        sum(amount_cents) as revenue_cents
    from messages
    group by currency_code
),

mart as (
    select
        currency_code,
        sum(sales_count) as sales_count,
        sum(units) as units,
        sum(revenue_cents) as revenue_cents
    from {{ ref('live_sales_per_minute') }}
    group by currency_code
),

final as (
    select
        coalesce(bronze.currency_code, mart.currency_code) as currency_code,
        bronze.sales_count as bronze_sales,
        mart.sales_count as mart_sales,
        bronze.units as bronze_units,
        mart.units as mart_units,
        bronze.revenue_cents as bronze_cents,
        mart.revenue_cents as mart_cents
    from bronze
    full outer join mart
        on bronze.currency_code = mart.currency_code
)

select * from final
where
    bronze_sales is distinct from mart_sales
    or bronze_units is distinct from mart_units
    or bronze_cents is distinct from mart_cents
