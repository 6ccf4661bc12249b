{#- The risk features and the risk tier, shared by risk_features (one row per payment
    attempt and entity) and merchant_risk (each merchant as of the end of the data):
    the same windows, ratios, flags and thresholds. docs/risk.md explains them. -#}

{#- The feature windows (name, hours) and the event types counted in each. -#}
{%- macro risk_windows_hours() -%}
    {%- do return([('1h', 1), ('24h', 24), ('7d', 168), ('30d', 720)]) -%}
{%- endmacro -%}

{%- macro risk_event_types() -%}
    {%- do return(['payment', 'failed_payment', 'refund', 'dispute']) -%}
{%- endmacro -%}

{#- (window, hours, event type) for every feature column pair. -#}
{%- macro risk_feature_measures() -%}
    {%- set measures = [] -%}
    {%- for window, hours in risk_windows_hours() -%}
        {%- for event_type in risk_event_types() -%}
            {%- do measures.append((window, hours, event_type)) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- do return(measures) -%}
{%- endmacro -%}

{#- A query over the rows of `events` (entity_type, entity_id, event_type, event_id,
    event_at, amount_reporting) of one entity type: each row with the count and amount of
    each event type in each window strictly before its event_at, per entity_id
    (macros/window_before.sql); null (DuckDB: 0) for an empty window. One entity type at a
    time: the windows then sort on the id alone (on DuckDB at scale 10, 65 s instead of 73 s
    for risk_features' windows). -#}
{%- macro risk_windows(events, entity_type) -%}
    {{- return(adapter.dispatch('risk_windows')(events, entity_type)) -}}
{%- endmacro -%}

{%- macro default__risk_windows(events, entity_type) -%}
    select
        entity_type,
        entity_id,
        event_type,
        event_id,
        {%- for window, hours, event_type in risk_feature_measures() %}
            sum(case when event_type = '{{ event_type }}' then 1 else 0 end) over (
                partition by entity_id order by event_at {{ window_before(hours) }}
            ) as {{ event_type }}_count_{{ window }},
            sum(case when event_type = '{{ event_type }}' then amount_reporting else 0 end) over (
                partition by entity_id order by event_at {{ window_before(hours) }}
            ) as {{ event_type }}_amount_{{ window }},
        {%- endfor %}
        event_at
    from {{ events }}
    where entity_type = '{{ entity_type }}'
{%- endmacro -%}

{#- DuckDB: the same sums, packed, as differences of running sums. Its cost grows with the
    number of sums over the rows (each finds its own frames), not with their width, so the
    event types share one 128-bit sum per four counts (32-bit lanes) and one per two amounts
    in cents (the second times 2^64): three instead of eight. A window [t - H, t) is then
    what came before t less what came before t - H: three running sums over each row's
    predecessors (peers at the same instant excluded), and per window one first_value of
    them, those of the first row at or after t - H (a struct of the three: one frame search
    per window). At scale 10 the windows over the incremental build's 1.8 M events took
    1.8 s instead of 3.7 s as sliding sums, the same sums (docs/risk.md). A lane of a window's
    sum would overflow only past 2^31 events of one type, or 2^63 cents, in a window of one
    entity; a running sum fails (HUGEINT overflow) rather than wrap past 2^31 disputes, or
    2^63 cents of failed payments or of disputes, in one entity's history. Unpacking splits
    each sum into two 64-bit halves first and converts integers of 64 bits to decimals, not
    of 128; an amount below zero unpacks right too (biased by 2^63, the lower half is read
    unsigned). -#}
{%- macro duckdb__risk_windows(events, entity_type) -%}
    {%- set count_groups = risk_event_types() | batch(4) | list -%}
    {%- set amount_pairs = risk_event_types() | batch(2) | list -%}
    {%- set two_64 = 'cast(18446744073709551616 as hugeint)' -%}
    {%- set two_63 = 'cast(9223372036854775808 as hugeint)' -%}
    {%- set low_64_bits = 'cast(18446744073709551615 as hugeint)' -%}
    {%- set cents = 'cast(amount_reporting * 100 as hugeint)' -%}
    select
        entity_type,
        entity_id,
        event_type,
        event_id,
        {%- for window, hours in risk_windows_hours() %}
            {%- for group in count_groups %}
                {%- set packed = 'counts_' ~ loop.index ~ '_' ~ window -%}
                {%- for event_type in group %}
                    cast(
                        ({{ packed }}_{{ 'low' if loop.index0 < 2 else 'high' }}
                        >> {{ 32 * (loop.index0 % 2) }}) & 4294967295 as bigint
                    ) as {{ event_type }}_count_{{ window }},
                {%- endfor %}
            {%- endfor %}
            {%- for pair in amount_pairs %}
                {%- set packed = 'amounts_' ~ loop.index ~ '_' ~ window -%}
                {%- for event_type in pair %}
                    cast(
                        cast({{ packed }}_{{ 'low' if loop.first else 'high' }} as decimal(18, 0))
                        * 0.01 as decimal(18, 2)
                    ) as {{ event_type }}_amount_{{ window }},
                {%- endfor %}
            {%- endfor %}
        {%- endfor %}
        event_at
    from (
        select
            *
            {%- for window, hours in risk_windows_hours() %}
                {%- for group in count_groups %}
                    {%- set packed = 'counts_' ~ loop.index ~ '_' ~ window -%},
                    cast({{ packed }} & {{ low_64_bits }} as ubigint) as {{ packed }}_low,
                    cast({{ packed }} >> 64 as ubigint) as {{ packed }}_high
                {%- endfor %}
                {%- for pair in amount_pairs %}
                    {%- set packed = 'amounts_' ~ loop.index ~ '_' ~ window -%},
                    cast(
                        (({{ packed }} + {{ two_63 }}) & {{ low_64_bits }}) - {{ two_63 }}
                        as bigint
                    ) as {{ packed }}_low,
                    cast(({{ packed }} + {{ two_63 }}) >> 64 as bigint) as {{ packed }}_high
                {%- endfor %}
            {%- endfor %}
        from (
            -- a window's sums: everything before the row, less everything before the
            -- window's start (what the first row at or after that start has before it)
            select
                *
                {%- for window, hours in risk_windows_hours() %}
                    {%- for group in count_groups %},
                        counts_{{ loop.index }}_before
                        - reached_{{ window }}['counts_{{ loop.index }}']
                            as counts_{{ loop.index }}_{{ window }}
                    {%- endfor %}
                    {%- for pair in amount_pairs %},
                        amounts_{{ loop.index }}_before
                        - reached_{{ window }}['amounts_{{ loop.index }}']
                            as amounts_{{ loop.index }}_{{ window }}
                    {%- endfor %}
                {%- endfor %}
            from (
                select
                    *
                    {%- for window, hours in risk_windows_hours() %},
                        first_value({
                            {%- for group in count_groups %}
                                'counts_{{ loop.index }}': counts_{{ loop.index }}_before,
                            {%- endfor %}
                            {%- for pair in amount_pairs %}
                                'amounts_{{ loop.index }}': amounts_{{ loop.index }}_before
                                {{- ',' if not loop.last }}
                            {%- endfor %}
                        }) over (
                            partition by entity_id
                            order by event_at
                            range between interval '{{ hours | int }} hours' preceding
                            and current row
                        ) as reached_{{ window }}
                    {%- endfor %}
                from (
                    select
                        *
                        {%- set before_row -%}
                            over (
                                partition by entity_id
                                order by event_at
                                range between unbounded preceding and current row
                                exclude group
                            )
                        {%- endset %}
                        {%- for group in count_groups %},
                            coalesce(sum(
                                case event_type
                                    {%- for event_type in group %}
                                        when '{{ event_type }}'
                                            then cast({{ 2 ** (32 * loop.index0) }} as hugeint)
                                    {%- endfor %}
                                    else cast(0 as hugeint)
                                end
                            ) {{ before_row }}, 0) as counts_{{ loop.index }}_before
                        {%- endfor %}
                        {%- for pair in amount_pairs %},
                            coalesce(sum(
                                case event_type
                                    when '{{ pair[0] }}' then {{ cents }}
                                    {%- if pair | length > 1 %}
                                        when '{{ pair[1] }}' then {{ cents }} * {{ two_64 }}
                                    {%- endif %}
                                    else cast(0 as hugeint)
                                end
                            ) {{ before_row }}, 0) as amounts_{{ loop.index }}_before
                        {%- endfor %}
                    from {{ events }}
                    where entity_type = '{{ entity_type }}'
                ) as running
            ) as reached
        ) as packed
    ) as halves
{%- endmacro -%}

{#- Select-list items (each followed by a comma) of a query grouped by entity: the same
    sums at one instant `as_of` over the rows of `events` (event_type, event_at,
    amount_reporting) before it, a window of H hours being [as_of - H hours, as_of). The
    rows must already be those of the 30 days (the longest window) strictly before as_of;
    an entity without rows (a left join's nulls) gets 0. -#}
{%- macro risk_sums_before(events, as_of) -%}
    {%- for window, hours, event_type in risk_feature_measures() %}
        {%- set in_window -%}
            {{ events }}.event_type = '{{ event_type }}'
            and {{ events }}.event_at >= {{ dbt.dateadd('hour', -hours, as_of) }}
        {%- endset %}
        sum(case when {{ in_window }} then 1 else 0 end) as {{ event_type }}_count_{{ window }},
        sum(case when {{ in_window }} then {{ events }}.amount_reporting else 0 end)
            as {{ event_type }}_amount_{{ window }},
    {%- endfor %}
{%- endmacro -%}

{#- Select-list items (each followed by a comma): those sums typed, an empty window as 0. -#}
{%- macro risk_window_sums_typed() -%}
    {%- for window, hours, event_type in risk_feature_measures() %}
        cast(coalesce({{ event_type }}_count_{{ window }}, 0) as bigint)
            as {{ event_type }}_count_{{ window }},
        cast(coalesce({{ event_type }}_amount_{{ window }}, 0) as decimal(18, 2))
            as {{ event_type }}_amount_{{ window }},
    {%- endfor %}
{%- endmacro -%}

{#- 30-day ratios: (medium, high) thresholds, two and three (disputes: two and four) times
    the marketplace's normal rates (refunds ~5% of payments, disputes ~1%, failed attempts
    ~6.5% of attempts). -#}
{%- macro risk_ratio_thresholds() -%}
    {%- do return({
        'refund_ratio_30d': (
            var('risk_refund_ratio_medium', 0.10), var('risk_refund_ratio_high', 0.15)
        ),
        'dispute_ratio_30d': (
            var('risk_dispute_ratio_medium', 0.02), var('risk_dispute_ratio_high', 0.04)
        ),
        'payment_failure_ratio_30d': (
            var('risk_payment_failure_ratio_medium', 0.13),
            var('risk_payment_failure_ratio_high', 0.20)
        ),
    }) -%}
{%- endmacro -%}

{#- A count over a count, null when the second is 0: PostgreSQL divides numerics exactly;
    DuckDB divides doubles either way (1.0 * n is a 128-bit decimal first, twice as slow to
    divide, with the same result). -#}
{%- macro risk_ratio(numerator, denominator) -%}
    {{- return(adapter.dispatch('risk_ratio')(numerator, denominator)) -}}
{%- endmacro -%}

{%- macro default__risk_ratio(numerator, denominator) -%}
    1.0 * {{ numerator }} / nullif({{ denominator }}, 0)
{%- endmacro -%}

{%- macro duckdb__risk_ratio(numerator, denominator) -%}
    cast({{ numerator }} as double) / nullif({{ denominator }}, 0)
{%- endmacro -%}

{#- Three CTEs (risk_ratios, risk_signals, risk_tiers) over `features`, a relation with
    entity_type and the typed window sums: the ratios, the velocity flags, and the tier
    with its reasons. A ratio is a signal only with var risk_min_events_30d (4) events in
    its numerator over the 30 days. -#}
{%- macro risk_assessment(features) -%}
    {%- set thresholds = risk_ratio_thresholds() -%}
    {%- set min_events = var('risk_min_events_30d', 4) -%}
    {%- set burst_1h = {
        'customer': var('risk_customer_attempts_1h', 3),
        'merchant': var('risk_merchant_attempts_1h', 5),
    } -%}
risk_ratios as (
    select
        *,
        {%- for window in ['7d', '30d'] %}
            cast(
                {{ risk_ratio('refund_count_' ~ window, 'payment_count_' ~ window) }}
                as decimal(9, 4)
            ) as refund_ratio_{{ window }},
            cast(
                {{ risk_ratio('dispute_count_' ~ window, 'payment_count_' ~ window) }}
                as decimal(9, 4)
            ) as dispute_ratio_{{ window }},
            cast(
                {{ risk_ratio(
                    'failed_payment_count_' ~ window,
                    'payment_count_' ~ window ~ ' + failed_payment_count_' ~ window
                ) }}
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
        failed_payment_count_24h >= {{ var('risk_failed_attempts_24h', 3) }}
            as is_failure_burst_24h,
        payment_count_24h + failed_payment_count_24h
        >= {{ var('risk_spike_min_attempts_24h', 5) }}
        and payment_count_24h + failed_payment_count_24h
        >= {{ var('risk_spike_factor', 3) }}
        * (payment_count_7d + failed_payment_count_7d) / 7.0
            as is_volume_spike_24h
    from {{ features }}
),

risk_signals as (
    select
        *,
        {%- for ratio, limits in thresholds.items() %}
            case
                when {{ ratio }}_events < {{ min_events }} then null
                when {{ ratio }} >= {{ limits[1] }} then 'high'
                when {{ ratio }} >= {{ limits[0] }} then 'medium'
            end as {{ ratio }}_level,
        {%- endfor %}
        (case when is_attempt_burst_1h then 1 else 0 end)
        + (case when is_failure_burst_24h then 1 else 0 end)
        + (case when is_volume_spike_24h then 1 else 0 end) as velocity_flag_count
    from risk_ratios
),

risk_tiers as (
    select
        *,
        case
            {%- for ratio in thresholds %}
                when {{ ratio }}_level = 'high' then 'high'
            {%- endfor %}
            when velocity_flag_count >= 2 then 'high'
            {%- for ratio in thresholds %}
                when {{ ratio }}_level = 'medium' then 'medium'
            {%- endfor %}
            when velocity_flag_count = 1 then 'medium'
            else 'low'
        end as risk_tier,
        concat_ws(
            ', ',
            {%- for ratio in thresholds %}
                case
                    when {{ ratio }}_level is not null then '{{ ratio }} ' || {{ ratio }}_level
                end,
            {%- endfor %}
            case when is_attempt_burst_1h then 'attempt burst 1h' end,
            case when is_failure_burst_24h then 'failure burst 24h' end,
            case when is_volume_spike_24h then 'volume spike 24h' end
        ) as risk_reasons
    from risk_signals
)
{%- endmacro -%}

{#- The output columns of risk_tiers, after the entity's own: every window sum, the
    ratios, the flags and the tier (the last one without a comma). -#}
{%- macro risk_feature_columns() -%}
    {%- for window, hours, event_type in risk_feature_measures() %}
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
{%- endmacro -%}
