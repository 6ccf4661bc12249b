{#- Point-in-time risk features, as a fraud team scores a payment: one row per payment
    attempt and entity (its customer, its merchant), with what that entity did in the
    1 hour, 24 hours, 7 days and 30 days strictly before the attempt (macros/
    window_before.sql: an event at the very instant of the attempt, the attempt itself
    included, is not seen). Counts and amounts of successful payments, failed attempts,
    refunds and disputes; 7- and 30-day refund, dispute and failure ratios; velocity
    flags; a risk tier. The tier reads the 30-day ratios: over 7 days a merchant has
    about 15 payments, too few for a rate to tell a risky merchant from an unlucky week
    (docs/risk.md has the figures). Rules and thresholds: macros/risk_features.sql,
    _risk__models.yml, docs/risk.md.
    Incremental (delete+insert on entity_type + payment_id): a run takes as changes the
    events int_risk_events_unioned changed since this model's last build, and rewrites,
    for each customer and merchant they belong to, the attempts in the 30 days (the
    longest window) from each such event on: no feature of a later attempt reads it. It
    reads that entity's events from 30 days before each change to 30 days after, so the
    rewritten attempts' windows are complete. An entity's changes less than 60 days apart
    count as one range (from the first to the last, plus 30 days): a few ranges per
    merchant to match events against, not one per change. Taking only what the events
    read as a change matters: a change set's status updates are spread over the year,
    and counting their orders made nearly every merchant's range the whole year
    (docs/dbt.md).
    On DuckDB the changes are int_risk_events_unioned's change feed since this model's
    last build (macros/change_feed.sql): each event it inserted or deleted, a rewritten
    one as it was and as it is, so an event deleted alone (a refund) or moved to another
    entity or an earlier time reaches the attempts its old place counted in; a post-hook
    deletes the attempts whose event the feed has and the table no longer holds. On
    PostgreSQL they are the events written after this model's latest run and the
    attempts gone from staging (what the post-hook deletes); a refund or dispute deleted
    alone, or an event moved, waits there for the nightly full refresh (the shop deletes
    whole orders, without refunds or disputes). -#}
-- depends_on: {{ ref('stg_shop__payments') }}
{{ config(
    materialized='incremental',
    unique_key=['entity_type', 'payment_id'],
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    post_hook=["{{ delete_risk_attempts_gone_upstream() }}"]
) }}

{#- delta: the events' change feed; rebuild (that feed cannot be read): every attempt -#}
{%- set plan = change_feed_plan([ref('int_risk_events_unioned')]) -%}
{%- set scoped = is_incremental() and plan.mode != 'rebuild' -%}
{%- if scoped -%}
    {#- the longest feature window (macros/risk_features.sql): how far a change reaches -#}
    {%- set longest_window_hours = risk_feature_measures() | map(attribute=1) | max -%}
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
        amount_reporting,
        _dbt_run_started_at as event_written_at
    from events
    union all
    select
        'merchant' as entity_type,
        merchant_id as entity_id,
        event_type,
        event_id,
        order_id,
        event_at,
        amount_reporting,
        _dbt_run_started_at as event_written_at
    from events
),

{% if scoped and plan.mode == 'delta' %}
    -- what moves the features of the attempts after it: every event the feed has, as it
    -- is and as it was; each instant once per entity (`union`, not `union all`): with
    -- ties, the two windows below could order an entity's changes differently and give
    -- overlapping ranges
    feed as (
        {{ changed_rows(
            plan, ref('int_risk_events_unioned'), ['customer_id', 'merchant_id', 'event_at']
        ) }}
    ),

    changes as (
        select
            'customer' as entity_type,
            customer_id as entity_id,
            event_at as changed_from
        from feed
        union
        select
            'merchant' as entity_type,
            merchant_id as entity_id,
            event_at as changed_from
        from feed
    ),
{% elif scoped %}
    -- PostgreSQL, no change feed. This model's latest run: an event written after it has not been read yet (a run
    -- stopped after int_risk_events_unioned leaves its events for the next one). A table
    -- built before the column existed has no time: every event stamped since is a change
    latest_run as (
        select
            coalesce(max(_dbt_run_started_at), cast('1970-01-01' as timestamp)) as started_at
        from {{ this }}
    ),

    -- what moves the features of the attempts after it: a changed event, a deleted attempt;
    -- each instant once per entity (`union`, not `union all`): with ties, the two windows
    -- below could order an entity's changes differently and give overlapping ranges
    changes as (
        select
            entity_type,
            entity_id,
            event_at as changed_from
        from entity_events
        where event_written_at > (select latest_run.started_at from latest_run)
        union
        select
            built.entity_type,
            built.entity_id,
            built.as_of_at as changed_from
        from {{ this }} as built
        where
            not exists (
                select 1 from {{ ref('stg_shop__payments') }} as payments
                where payments.payment_id = built.payment_id
            )
    ),
{% endif %}
{%- if scoped %}

    -- an entity's changes whose reach overlaps (less than two windows apart: the events a
    -- rewritten attempt reads) are one range: the joins below then match each event and
    -- attempt against a range or two per entity instead of every change a merchant had
    change_gaps as (
        select
            entity_type,
            entity_id,
            changed_from,
            lag(changed_from) over (
                partition by entity_type, entity_id order by changed_from
            ) as previous_change
        from changes
    ),

    change_ranges as (
        select
            entity_type,
            entity_id,
            changed_from,
            sum(
                case
                    when
                        previous_change is null
                        or changed_from > {{ dbt.dateadd(
                            'hour', 2 * longest_window_hours, 'previous_change'
                        ) }}
                        then 1
                    else 0
                end
            ) over (
                partition by entity_type, entity_id
                order by changed_from
                rows between unbounded preceding and current row
            ) as range_number
        from change_gaps
    ),

    affected as (
        select
            entity_type,
            entity_id,
            min(changed_from) as first_change,
            max(changed_from) as last_change
        from change_ranges
        group by entity_type, entity_id, range_number
    ),
{% endif %}

scoped_events as (
    select entity_events.*
    from entity_events
    {% if scoped %}
        -- what the rewritten attempts' windows read: 30 days either side of a change. A
        -- join, not `exists`: an entity's ranges are more than two windows apart, so an
        -- event is in one at most, and DuckDB's hash join with the range as a filter took
        -- half the time of the semi join it planned for `exists` (docs/dbt.md)
        inner join affected
            on
                entity_events.entity_type = affected.entity_type
                and entity_events.entity_id = affected.entity_id
                and entity_events.event_at
                >= {{ dbt.dateadd('hour', -longest_window_hours, 'affected.first_change') }}
                and entity_events.event_at
                <= {{ dbt.dateadd('hour', longest_window_hours, 'affected.last_change') }}
    {% endif %}
),

windowed as (
    {%- for entity_type in ['customer', 'merchant'] %}
        {{ 'union all' if not loop.first }}
        {{ risk_windows('scoped_events', entity_type) }}
    {%- endfor %}
),

-- the scoring points: every payment attempt
attempts as (
    select
        entity_type,
        entity_id,
        event_id as payment_id,
        {{- risk_window_sums_typed() }}
        event_at as as_of_at
    from windowed
    where event_type in ('payment', 'failed_payment')
),

{% if scoped %}
    -- on an incremental run, the attempts in the 30 days from a change
    rewritten as (
        select attempts.*
        from attempts
        where exists (
            select 1 from affected
            where
                affected.entity_type = attempts.entity_type
                and affected.entity_id = attempts.entity_id
                and attempts.as_of_at >= affected.first_change
                and attempts.as_of_at
                <= {{ dbt.dateadd('hour', longest_window_hours, 'affected.last_change') }}
        )
    ),
{% endif %}

{{ risk_assessment('rewritten' if scoped else 'attempts') }},

final as (
    select
        entity_type,
        entity_id,
        payment_id,
        as_of_at,
        cast(as_of_at as date) as as_of_date,
        {{- risk_feature_columns() }}
    from risk_tiers
)

select
    *,
    {{ run_started_at_column() }},
    {{ loaded_by_this_invocation() }}
from final
