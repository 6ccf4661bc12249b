with

source as not materialized (
    select * from {{ source('crm', 'contacts') }}
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

select * from final
