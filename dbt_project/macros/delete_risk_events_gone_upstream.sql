{#- int_risk_events_unioned's post-hook: after the merge, delete the events whose row is
    gone upstream (a payment, refund or dispute deleted at the source, an order gone), or
    whose payment changed type (`payment` <-> `failed_payment`: the new type is another
    key). Skipped on a full refresh. -#}
{%- macro delete_risk_events_gone_upstream() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as built where
            not exists (
                select 1 from {{ ref('int_orders_enriched') }} as orders
                where orders.order_id = built.order_id
            )
            or (
                built.event_type in ('payment', 'failed_payment')
                and not exists (
                    select 1 from {{ ref('stg_shop__payments') }} as payments
                    where
                        payments.payment_id = built.event_id
                        and built.event_type
                        = case when payments.is_successful then 'payment' else 'failed_payment' end
                )
            )
            or (
                built.event_type = 'refund'
                and not exists (
                    select 1 from {{ ref('stg_shop__refunds') }} as refunds
                    where refunds.refund_id = built.event_id
                )
            )
            or (
                built.event_type = 'dispute'
                and not exists (
                    select 1 from {{ ref('stg_shop__disputes') }} as disputes
                    where disputes.dispute_id = built.event_id
                )
            )
    {%- endif -%}
{%- endmacro -%}
