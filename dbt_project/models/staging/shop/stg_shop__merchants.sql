{{ config(
    materialized='incremental',
    unique_key='merchant_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_keys_deleted_at_source(source('shop', 'merchants'), ['merchant_id']) }}"
) }}

with

source as {{ bronze_rows_cte() }} (
    select * from {{ source('shop', 'merchants') }}
    {{ new_bronze_rows_only() }}
),

latest as (
    {{ latest_per_key('source', ['merchant_id']) }}
),

final as (
    select
        cast(merchant_id as bigint) as merchant_id,
        trim(name) as merchant_name,
        upper(trim(country_code)) as country_code,
        upper(trim(currency)) as currency_code,
        lower(trim(category)) as merchant_category,
        {{ to_utc_timestamp('created_at') }} as onboarded_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        _extracted_at
    from latest
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
