{{ config(
    materialized='incremental',
    unique_key='customer_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_keys_deleted_at_source(source('shop', 'customers'), ['customer_id']) }}"
) }}

with

source as {{ bronze_rows_cte() }} (
    select * from {{ source('shop', 'customers') }}
    {{ new_bronze_rows_only() }}
),

latest as (
    {{ latest_per_key('source', ['customer_id']) }}
),

final as (
    select
        cast(customer_id as bigint) as customer_id,
        lower(trim(email)) as email,
        trim(first_name) as first_name,
        trim(last_name) as last_name,
        upper(trim(country_code)) as country_code,
        {{ to_utc_timestamp('created_at') }} as signed_up_at,
        cast({{ to_utc_timestamp('created_at') }} as date) as signed_up_date,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        _extracted_at
    from latest
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
