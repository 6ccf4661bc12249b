{#- Nothing lost, nothing invented between bronze and staging: every bronze row of shop
    orders is either the kept version of an order in staging, an older version removed
    as a duplicate, or the latest version of an order deleted at the source (a CDC
    tombstone). The bronze side is counted here straight from the source, independently
    of the latest_per_key macro. Fails with the counts when the equation does not hold,
    or when staging holds an order that bronze has no live version of. -#}

{# reads several models: Dagster shows it as an asset check of this one #}
{{ config(meta={"dagster": {"ref": {"name": "stg_shop__orders"}}}) }}
with

bronze as (
    select
        order_id,
        _op,
        row_number() over (
            partition by order_id
            order by _position desc nulls last, _extracted_at desc, _sync_id desc
        ) as version_rank
    from {{ source('shop', 'orders') }}
),

bronze_counts as (
    select
        count(*) as bronze_rows,
        sum(case when version_rank > 1 then 1 else 0 end) as duplicate_rows,
        sum(case when version_rank = 1 and _op = 'd' then 1 else 0 end) as deleted_keys
    from bronze
),

live_keys as (
    select order_id
    from bronze
    where version_rank = 1 and coalesce(_op, '') != 'd'
),

staging as (
    select order_id from {{ ref('stg_shop__orders') }}
),

staging_counts as (
    select count(*) as staging_rows from staging
),

unexplained_keys as (
    select count(*) as n_keys
    from (
        select order_id from staging
        except
        select order_id from live_keys
    ) as in_staging_only
),

final as (
    select
        bronze_counts.bronze_rows,
        staging_counts.staging_rows,
        bronze_counts.duplicate_rows,
        bronze_counts.deleted_keys,
        unexplained_keys.n_keys as staging_keys_without_live_bronze_version
    from bronze_counts
    cross join staging_counts
    cross join unexplained_keys
)

select * from final
where
    bronze_rows
    != staging_rows + coalesce(duplicate_rows, 0) + coalesce(deleted_keys, 0)
    or staging_keys_without_live_bronze_version > 0
