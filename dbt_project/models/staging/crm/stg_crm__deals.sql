{#- The CRM sends amounts as decimals in major units; they become integer cents like every
    other amount in the lakehouse (rounded to the cent), with the decimal amount beside. -#}
{{ config(
    materialized='incremental',
    unique_key='deal_id',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    pre_hook="{{ delete_keys_deleted_at_source(source('crm', 'deals'), ['deal_id']) }}"
) }}

with

source as {{ bronze_rows_cte() }} (
    select * from {{ source('crm', 'deals') }}
    {{ new_bronze_rows_only() }}
),

latest as (
    {{ latest_per_key('source', ['deal_id']) }}
),

renamed as (
    select
        cast(deal_id as bigint) as deal_id,
        cast(contact_id as bigint) as contact_id,
        lower(trim(stage)) as deal_stage,
        upper(trim(currency)) as currency_code,
        cast(round(cast(amount as decimal(18, 2)) * 100) as bigint) as amount_cents,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        _extracted_at
    from latest
),

final as (
    select
        deal_id,
        contact_id,
        deal_stage,
        deal_stage = 'won' as is_won,
        deal_stage in ('won', 'lost') as is_closed,
        currency_code,
        amount_cents,
        {{ cents_to_amount('amount_cents') }} as amount,
        created_at,
        updated_at,
        _extracted_at
    from renamed
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
