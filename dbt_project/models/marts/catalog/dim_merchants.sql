{#- One row per merchant (current version) with the size of its catalogue. -#}
with

merchants as (
    select * from {{ ref('stg_shop__merchants') }}
),

products as (
    select * from {{ ref('stg_shop__products') }}
),

products_per_merchant as (
    select
        merchant_id,
        count(*) as product_count
    from products
    group by merchant_id
),

final as (
    select
        merchants.merchant_id,
        merchants.merchant_name,
        merchants.country_code,
        merchants.currency_code,
        merchants.merchant_category,
        merchants.onboarded_at,
        merchants.updated_at,
        coalesce(products_per_merchant.product_count, 0) as product_count
    from merchants
    left join products_per_merchant
        on merchants.merchant_id = products_per_merchant.merchant_id
)

select * from final
