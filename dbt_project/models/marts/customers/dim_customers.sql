{#- Customers as type-2 slowly changing dimension: one row per version, from the
    snapshot. Facts join the version valid when the order was placed, or the current one. -#}
with

versions as (
    select * from {{ ref('snap_shop__customers') }}
),

final as (
    select
        {{ dbt.hash(dbt.concat([
            'cast(customer_id as ' ~ dbt.type_string() ~ ')',
            "'|'",
            'cast(dbt_valid_from as ' ~ dbt.type_string() ~ ')'
        ])) }} as customer_version_key,
        customer_id,
        email,
        first_name,
        last_name,
        country_code,
        signed_up_at,
        cast(dbt_valid_from as timestamp) as valid_from,
        cast(dbt_valid_to as timestamp) as valid_to,
        dbt_valid_to is null as is_current
    from versions
)

select * from final
