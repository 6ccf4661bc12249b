{#- One row per `dbt build` that Dagster ran, from the summary it keeps in _ops/dbt.
    Empty before the first such build has finished. -#}
with

invocations as (
    select * from {{ ops_source('ops', 'dbt_invocations') }}
),

final as (
    select
        invocation_id,
        {{ to_utc_timestamp('generated_at') }} as generated_at,
        cast(elapsed_s as decimal(18, 3)) as elapsed_seconds,
        {%- for node_type, status, name in [
            ('model', 'success', 'models_succeeded'),
            ('model', 'error', 'models_errored'),
            ('model', 'skipped', 'models_skipped'),
            ('test', 'pass', 'tests_passed'),
            ('test', 'warn', 'tests_warned'),
            ('test', 'fail', 'tests_failed'),
            ('test', 'error', 'tests_errored'),
        ] %}
            coalesce(
                cast({{ ops_json_text(ops_json_value('counts', node_type), status) }} as bigint), 0
            ) as {{ name }},
        {%- endfor %}
        coalesce({{ ops_json_array_length('failures') }}, 0) as failure_count,
        coalesce({{ ops_json_array_length('failures') }}, 0) = 0 as is_successful
    from invocations
)

select * from final
