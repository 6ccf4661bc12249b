{{ config(
    materialized='incremental',
    unique_key='contact_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_keys_deleted_at_source(source('crm', 'contacts'), ['contact_id']) }}"
) }}

with

source as {{ bronze_rows_cte() }} (
    select * from {{ source('crm', 'contacts') }}
    {{ new_bronze_rows_only() }}
),

latest as (
    {{ latest_per_key('source', ['contact_id']) }}
),

final as (
    select
        cast(contact_id as bigint) as contact_id,
        cast(customer_id as bigint) as customer_id,
        lower(trim(email)) as email,
        trim(company) as company_name,
        lower(trim(lifecycle_stage)) as lifecycle_stage,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        _extracted_at
    from latest
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
