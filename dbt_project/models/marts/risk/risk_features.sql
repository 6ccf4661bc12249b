{#- Point-in-time risk features, as a fraud team scores a payment: one row per payment
    attempt and entity (its customer, its merchant), with what that entity did in the
    1 hour, 24 hours, 7 days and 30 days strictly before the attempt (macros/
    window_before.sql: an event at the very instant of the attempt, the attempt itself
    included, is not seen). Counts and amounts of successful payments, failed attempts,
    refunds and disputes; 7- and 30-day refund, dispute and failure ratios; velocity
    flags; a risk tier. The tier reads the 30-day ratios: over 7 days a merchant has
    about 15 payments, too few for a rate to tell a risky merchant from an unlucky week
    (docs/risk.md has the figures). Rules and thresholds: _risk__models.yml, docs/risk.md.
    Incremental (delete+insert on entity_type + payment_id): a run finds the events that
    changed (their order rewritten upstream in this invocation or changed within var
    incremental_lookback_days of the newest attempt built; a dispute changed likewise; an
    attempt deleted at the source) and rewrites, for each customer and merchant they
    belong to, every attempt from the earliest such event on, reading that entity's
    events from 30 days (the longest window) before it so the windows are complete. A
    post-hook removes the rows of payments gone from staging. -#}
-- depends_on: {{ ref('int_orders_enriched') }}
-- depends_on: {{ ref('stg_shop__disputes') }}
-- depends_on: {{ ref('stg_shop__payments') }}
{{ config(
    materialized='incremental',
    unique_key=['entity_type', 'payment_id'],
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook=[
        "{{ delete_rows_gone_upstream([(ref('stg_shop__payments'), 'payment_id')]) }}",
        "{{ export_to_lake() }}"
    ]
) }}

{%- set windows = [('1h', 1), ('24h', 24), ('7d', 168), ('30d', 720)] -%}
{%- set event_types = ['payment', 'failed_payment', 'refund', 'dispute'] -%}
{%- set measures = [] -%}
{%- for window, hours in windows -%}
    {%- for event_type in event_types -%}
        {%- do measures.append((window, hours, event_type)) -%}
    {%- endfor -%}
{%- endfor -%}
{#- 30-day ratios: (medium, high) thresholds, two and three (disputes: two and four) times
    the marketplace's normal rates (refunds ~5% of payments, disputes ~1%, failed attempts
    ~6.5% of attempts). -#}
{%- set ratio_thresholds = {
    'refund_ratio_30d': (var('risk_refund_ratio_medium', 0.10), var('risk_refund_ratio_high', 0.15)),
    'dispute_ratio_30d': (var('risk_dispute_ratio_medium', 0.02), var('risk_dispute_ratio_high', 0.04)),
    'payment_failure_ratio_30d': (
        var('risk_payment_failure_ratio_medium', 0.13), var('risk_payment_failure_ratio_high', 0.20)
    ),
} -%}
{#- A ratio is a signal only with enough evidence: this many events in its numerator
    (refunds, disputes, failed attempts) over the 30 days. -#}
{%- set min_events = var('risk_min_events_30d', 4) -%}
{#- Payment attempts in the last hour that make a burst, per entity type. -#}
{%- set burst_1h = {
    'customer': var('risk_customer_attempts_1h', 3),
    'merchant': var('risk_merchant_attempts_1h', 5),
} -%}
{%- set failures_24h = var('risk_failed_attempts_24h', 3) -%}
{%- set spike_factor = var('risk_spike_factor', 3) -%}
{%- set spike_min_attempts = var('risk_spike_min_attempts_24h', 5) -%}

{%- if is_incremental() -%}
    {%- set cutoff = lookback_cutoff('as_of_at', 'day', 'incremental_lookback_days', 3) -%}
{%- endif %}

with

events as (
    select * from {{ ref('int_risk_events_unioned') }}
),

entity_events as (
    select
        'customer' as entity_type,
        customer_id as entity_id,
        event_type,
        event_id,
        order_id,
        event_at,
        amount_reporting
    from events
    union all
    select
        'merchant' as entity_type,
        merchant_id as entity_id,
        event_type,
        event_id,
        order_id,
        event_at,
        amount_reporting
    from events
),

{% if is_incremental() %}
    changed_orders as (
        select order_id from {{ ref('int_orders_enriched') }}
        where
            _dbt_invocation_id = '{{ invocation_id }}'
            or last_changed_at >= {{ cutoff }}
    ),

    changed_disputes as (
        select dispute_id from {{ ref('stg_shop__disputes') }}
        where
            _dbt_invocation_id = '{{ invocation_id }}'
            or updated_at >= {{ cutoff }}
    ),

    -- what moves the features of the attempts after it: a changed event, a deleted attempt
    changes as (
        select
            entity_type,
            entity_id,
            event_at as changed_from
        from entity_events
        where
            order_id in (select changed_orders.order_id from changed_orders)
            or (
                event_type = 'dispute'
                and event_id in (select changed_disputes.dispute_id from changed_disputes)
            )
        union all
        select
            built.entity_type,
            built.entity_id,
            built.as_of_at as changed_from
        from {{ this }} as built
        where not exists (
            select 1 from {{ ref('stg_shop__payments') }} as payments
            where payments.payment_id = built.payment_id
        )
    ),

    affected as (
        select
            entity_type,
            entity_id,
            min(changed_from) as affected_from
        from changes
        group by entity_type, entity_id
    ),
{% endif %}

scoped_events as (
    select
        entity_events.*,
        {% if is_incremental() -%}
            affected.affected_from
        {%- else -%}
            cast(null as {{ dbt.type_timestamp() }}) as affected_from
        {%- endif %}
    from entity_events
    {% if is_incremental() %}
        -- the affected entities' events, from 30 days (the longest window) before the change
        inner join affected
            on
                entity_events.entity_type = affected.entity_type
                and entity_events.entity_id = affected.entity_id
                and entity_events.event_at
                >= {{ dbt.dateadd('hour', -720, 'affected.affected_from') }}
    {% endif %}
),

windowed as (
    select
        entity_type,
        entity_id,
        event_type,
        event_id,
        {%- for window, hours, event_type in measures %}
            sum(case when event_type = '{{ event_type }}' then 1 else 0 end) over (
                partition by entity_type, entity_id order by event_at {{ window_before(hours) }}
            ) as {{ event_type }}_count_{{ window }},
            sum(case when event_type = '{{ event_type }}' then amount_reporting else 0 end) over (
                partition by entity_type, entity_id order by event_at {{ window_before(hours) }}
            ) as {{ event_type }}_amount_{{ window }},
        {%- endfor %}
        event_at,
        affected_from
    from scoped_events
),

-- the scoring points: every payment attempt; an empty window sums to null, meaning 0
attempts as (
    select
        entity_type,
        entity_id,
        event_id as payment_id,
        {%- for window, hours, event_type in measures %}
            cast(coalesce({{ event_type }}_count_{{ window }}, 0) as bigint)
                as {{ event_type }}_count_{{ window }},
            cast(coalesce({{ event_type }}_amount_{{ window }}, 0) as decimal(18, 2))
                as {{ event_type }}_amount_{{ window }},
        {%- endfor %}
        event_at as as_of_at
    from windowed
    where
        event_type in ('payment', 'failed_payment')
        -- on an incremental run, the attempts from the change on
        and (affected_from is null or event_at >= affected_from)
),

ratios as (
    select
        *,
        {%- for window in ['7d', '30d'] %}
            cast(
                1.0 * refund_count_{{ window }} / nullif(payment_count_{{ window }}, 0)
                as decimal(9, 4)
            ) as refund_ratio_{{ window }},
            cast(
                1.0 * dispute_count_{{ window }} / nullif(payment_count_{{ window }}, 0)
                as decimal(9, 4)
            ) as dispute_ratio_{{ window }},
            cast(
                1.0 * failed_payment_count_{{ window }}
                / nullif(payment_count_{{ window }} + failed_payment_count_{{ window }}, 0)
                as decimal(9, 4)
            ) as payment_failure_ratio_{{ window }},
        {%- endfor %}
        -- numerator of each ratio: the evidence it needs to count
        refund_count_30d as refund_ratio_30d_events,
        dispute_count_30d as dispute_ratio_30d_events,
        failed_payment_count_30d as payment_failure_ratio_30d_events,
        payment_count_1h + failed_payment_count_1h
        >= case entity_type
            {%- for entity_type, attempts in burst_1h.items() %}
                when '{{ entity_type }}' then {{ attempts }}
            {%- endfor %}
        end as is_attempt_burst_1h,
        failed_payment_count_24h >= {{ failures_24h }} as is_failure_burst_24h,
        payment_count_24h + failed_payment_count_24h >= {{ spike_min_attempts }}
        and payment_count_24h + failed_payment_count_24h
        >= {{ spike_factor }} * (payment_count_7d + failed_payment_count_7d) / 7.0
            as is_volume_spike_24h
    from attempts
),

signals as (
    select
        *,
        {%- for ratio, limits in ratio_thresholds.items() %}
            case
                when {{ ratio }}_events < {{ min_events }} then null
                when {{ ratio }} >= {{ limits[1] }} then 'high'
                when {{ ratio }} >= {{ limits[0] }} then 'medium'
            end as {{ ratio }}_level,
        {%- endfor %}
        (case when is_attempt_burst_1h then 1 else 0 end)
        + (case when is_failure_burst_24h then 1 else 0 end)
        + (case when is_volume_spike_24h then 1 else 0 end) as velocity_flag_count
    from ratios
),

tiers as (
    select
        *,
        case
            {%- for ratio in ratio_thresholds %}
                when {{ ratio }}_level = 'high' then 'high'
            {%- endfor %}
            when velocity_flag_count >= 2 then 'high'
            {%- for ratio in ratio_thresholds %}
                when {{ ratio }}_level = 'medium' then 'medium'
            {%- endfor %}
            when velocity_flag_count = 1 then 'medium'
            else 'low'
        end as risk_tier,
        concat_ws(
            ', ',
            {%- for ratio in ratio_thresholds %}
                case
                    when {{ ratio }}_level is not null then '{{ ratio }} ' || {{ ratio }}_level
                end,
            {%- endfor %}
            case when is_attempt_burst_1h then 'attempt burst 1h' end,
            case when is_failure_burst_24h then 'failure burst 24h' end,
            case when is_volume_spike_24h then 'volume spike 24h' end
        ) as risk_reasons
    from signals
),

final as (
    select
        entity_type,
        entity_id,
        payment_id,
        as_of_at,
        cast(as_of_at as date) as as_of_date,
        {%- for window, hours, event_type in measures %}
            {{ event_type }}_count_{{ window }},
            {{ event_type }}_amount_{{ window }},
        {%- endfor %}
        refund_ratio_7d,
        dispute_ratio_7d,
        payment_failure_ratio_7d,
        refund_ratio_30d,
        dispute_ratio_30d,
        payment_failure_ratio_30d,
        is_attempt_burst_1h,
        is_failure_burst_24h,
        is_volume_spike_24h,
        risk_tier,
        case risk_tier when 'high' then 3 when 'medium' then 2 else 1 end as risk_tier_rank,
        nullif(risk_reasons, '') as risk_reasons
    from tiers
)

select
    *,
    {{ loaded_by_this_invocation() }}
from final
