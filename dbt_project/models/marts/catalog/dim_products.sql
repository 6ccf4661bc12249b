{#- One row per product (current version), with its merchant's name and country. -#}
with

products as (
    select * from {{ ref('stg_shop__products') }}
),

merchants as (
    select * from {{ ref('stg_shop__merchants') }}
),

final as (
    select
        products.product_id,
        products.merchant_id,
        merchants.merchant_name,
        merchants.country_code as merchant_country_code,
        products.product_name,
        products.product_category,
        products.currency_code,
        products.price_cents,
        cast(products.price as decimal(18, 2)) as price,
        products.created_at,
        products.updated_at
    from products
    left join merchants
        on products.merchant_id = merchants.merchant_id
)

select * from final
