{#- int_risk_events_unioned's post-hook: after the merge, delete the events whose row is
    gone upstream (a payment, refund or dispute deleted at the source, or its order gone),
    or whose payment changed type (`payment` <-> `failed_payment`: the new type is another
    key). One anti-join against the keys that exist now: three times faster than one per
    kind of event (0.17 s against 0.57 s for 1.1 M events). Skipped on a full refresh. -#}
{%- macro delete_risk_events_gone_upstream() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as built where not exists (
            select 1
            from (
                select
                    case when is_successful then 'payment' else 'failed_payment' end
                        as event_type,
                    payment_id as event_id,
                    order_id
                from {{ ref('stg_shop__payments') }}
                union all
                select 'refund', refund_id, order_id from {{ ref('stg_shop__refunds') }}
                union all
                select 'dispute', dispute_id, order_id from {{ ref('stg_shop__disputes') }}
            ) as upstream
            inner join {{ ref('int_orders_enriched') }} as orders
                on upstream.order_id = orders.order_id
            where
                upstream.event_type = built.event_type
                and upstream.event_id = built.event_id
        )
    {%- endif -%}
{%- endmacro -%}


{#- risk_features' post-hook: delete the attempts whose payment is gone (deleted at the
    source, its order gone, or no longer an attempt): on DuckDB those whose attempt (a
    payment or a failed one: a payment that fails later is still an attempt) the feed of
    int_risk_events_unioned deleted and did not write again, elsewhere and on a rebuild
    those missing from staging (delete_gone_from_feed). -#}
{%- macro delete_risk_attempts_gone_upstream() -%}
    {{ delete_gone_from_feed(
        ref('int_risk_events_unioned'), 'payment_id',
        [(ref('stg_shop__payments'), 'payment_id')],
        feed_key='event_id', condition="event_type in ('payment', 'failed_payment')"
    ) }}
{%- endmacro -%}
