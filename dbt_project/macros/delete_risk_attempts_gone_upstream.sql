{#- risk_features' post-hook: after the merge, delete the attempts whose payment is gone
    (deleted at the source, its order gone, or no longer an attempt). On DuckDB with a
    change feed to read (macros/change_feed.sql), the payments whose attempt (a payment or
    a failed one: a payment that fails later is still an attempt) the feed of
    int_risk_events_unioned deleted and did not write again; the plan is the model's own
    (its snapshot is not committed before the hook ends). Otherwise (a rebuild,
    PostgreSQL) the built attempts missing from staging. Skipped on a full refresh. -#}
{%- macro delete_risk_attempts_gone_upstream() -%}
    {%- if is_incremental() -%}
        {%- set events = ref('int_risk_events_unioned') -%}
        {%- set plan = change_feed_plan([events]) -%}
        {%- if plan.mode == 'delta' -%}
            delete from {{ this }} where payment_id in ({{ gone_keys(
                plan, events, 'event_id', "event_type in ('payment', 'failed_payment')"
            ) }})
        {%- else -%}
            {{ delete_rows_gone_upstream([(ref('stg_shop__payments'), 'payment_id')]) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro -%}
