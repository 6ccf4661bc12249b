{#- Every event a fraud team counts, one row each, with the customer and the merchant it
    belongs to and its amount in the reporting currency (at the order date's rate, as in
    the finance facts): successful payments, failed payment attempts, refunds and
    disputes (chargebacks). An event belongs to the customer and the merchant of its
    order. risk_features reads it per customer and per merchant.
    Incremental (delete+insert on event_type + event_id): a run recomputes the events it
    may have to change and writes only those that are new or whose columns differ from
    the built row, stamped with the run's start (_dbt_run_started_at); an order rewritten
    upstream for a column no event reads (its status) writes nothing. On DuckDB it
    recomputes the payments and refunds of the orders in int_orders_enriched's change
    feed since its last build (macros/change_feed.sql: a payment or refund that changes
    moves its order's last_changed_at, so the order is rewritten there, as is an order
    whose buyer, merchant or rate changes) and every dispute (a few: disputes are not in
    int_orders_enriched); elsewhere, and on a rebuild, every event. risk_features reads
    this model's change feed (on PostgreSQL the events written after its own latest run),
    so what a run wrote is still a change for the next one if the build stopped in
    between. Post-hooks remove the events gone upstream (or that became another type: a
    payment that turned into a failed attempt), whatever the feed says: a refund deleted
    alone at the source moves no order (macros/delete_risk_events_gone_upstream.sql). -#}
{{ config(
    materialized='incremental',
    unique_key=['event_type', 'event_id'],
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ delete_risk_events_of_gone_orders() }}",
        "{{ delete_risk_events_gone_upstream() }}"
    ]
) }}
{%- set plan = change_feed_plan([ref('int_orders_enriched')]) %}
{%- set delta = plan.mode == 'delta' %}

with
{% if delta %}
changed_orders as (
    {{ changed_keys(plan, [ref('int_orders_enriched')], 'order_id') }}
),
{% endif %}
{%- set only_changed_orders -%}
    {%- if delta %}
    where order_id in (select changed_orders.order_id from changed_orders)
    {%- endif -%}
{%- endset %}

payments as (
    select * from {{ ref('stg_shop__payments') }}
    {{ only_changed_orders }}
),

refunds as (
    select * from {{ ref('stg_shop__refunds') }}
    {{ only_changed_orders }}
),

disputes as (
    select * from {{ ref('stg_shop__disputes') }}
),

orders as (
    select * from {{ ref('int_orders_enriched') }}
    {%- if delta %}
        where
            order_id in (select changed_orders.order_id from changed_orders)
            or order_id in (select disputes.order_id from disputes)
    {%- endif %}
),

events as (
    select
        case when is_successful then 'payment' else 'failed_payment' end as event_type,
        payment_id as event_id,
        payment_id,
        order_id,
        paid_at as event_at,
        amount
    from payments
    union all
    select
        'refund' as event_type,
        refund_id as event_id,
        payment_id,
        order_id,
        refunded_at as event_at,
        amount
    from refunds
    union all
    select
        'dispute' as event_type,
        dispute_id as event_id,
        payment_id,
        order_id,
        opened_at as event_at,
        amount
    from disputes
),

final as (
    select
        events.event_type,
        events.event_id,
        events.payment_id,
        events.order_id,
        orders.customer_id,
        orders.merchant_id,
        events.event_at,
        cast(events.amount / orders.fx_units_per_reporting as decimal(18, 2))
            as amount_reporting
    from events
    inner join orders
        on events.order_id = orders.order_id
),

written as (
    select final.*
    from final
    {% if is_incremental() %}
        -- only what differs from the built event: a column no event reads changed nothing
        where not exists (
            select 1 from {{ this }} as built
            where
                built.event_type = final.event_type
                and built.event_id = final.event_id
                and built.payment_id is not distinct from final.payment_id
                and built.order_id = final.order_id
                and built.customer_id = final.customer_id
                and built.merchant_id = final.merchant_id
                and built.event_at = final.event_at
                and built.amount_reporting = final.amount_reporting
        )
    {% endif %}
)

select
    *,
    {{ run_started_at_column() }},
    {{ loaded_by_this_invocation() }}
from written
