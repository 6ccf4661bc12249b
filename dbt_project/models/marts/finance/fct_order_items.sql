{#- One row per order line (gold). The order's total in the reporting currency is
    allocated to its lines in proportion to their totals, rounded to cents; the largest
    line takes the rounding remainder, so the lines of an order add up to the order's
    order_total_reporting exactly. -#}
with

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
),

lines as (
    select
        order_items.order_item_id,
        order_items.order_id,
        order_items.product_id,
        orders.merchant_id,
        orders.customer_id,
        orders.order_status,
        orders.currency_code,
        orders.ordered_at,
        orders.order_date,
        order_items.quantity,
        order_items.unit_price_cents,
        order_items.unit_price,
        order_items.line_total_cents,
        order_items.line_total,
        order_items.updated_at,
        orders.order_total_reporting,
        cast(
            case
                when orders.items_total_cents > 0
                    then
                        orders.order_total_reporting * order_items.line_total_cents
                        / orders.items_total_cents
                else orders.order_total_reporting / orders.item_count
            end
            as decimal(18, 2)
        ) as line_share_reporting,
        row_number() over (
            partition by order_items.order_id
            order by order_items.line_total_cents desc, order_items.order_item_id asc
        ) as line_rank
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
),

final as (
    select
        order_item_id,
        order_id,
        product_id,
        merchant_id,
        customer_id,
        order_status,
        order_status = 'cancelled' as is_cancelled,
        currency_code,
        ordered_at,
        order_date,
        quantity,
        unit_price_cents,
        cast(unit_price as decimal(18, 2)) as unit_price,
        line_total_cents,
        cast(line_total as decimal(18, 2)) as line_total,
        cast(
            case
                when line_rank = 1
                    then
                        order_total_reporting
                        - (
                            sum(line_share_reporting) over (partition by order_id)
                            - line_share_reporting
                        )
                else line_share_reporting
            end
            as decimal(18, 2)
        ) as line_total_reporting,
        updated_at
    from lines
)

select * from final
