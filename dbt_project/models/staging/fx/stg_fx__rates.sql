with

source as not materialized (
    select * from {{ source('fx', 'rates') }}
),

latest as (
    {{ latest_per_key('source', ['rate_date', 'quote_currency']) }}
),

final as (
    select
        cast(rate_date as date) as rate_date,
        upper(trim(base_currency)) as base_currency_code,
        upper(trim(quote_currency)) as quote_currency_code,
        cast(rate as double precision) as units_per_base,
        _source_file,
        _extracted_at
    from latest
)

select * from final
