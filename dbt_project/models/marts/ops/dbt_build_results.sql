{#- One row per dbt build the orchestrator ran (gold): models built or failed, tests
    passed, warned, failed or errored. Empty before the first build has finished. -#}
with

invocations as (
    select * from {{ ref('stg_ops__dbt_invocations') }}
),

final as (
    select
        cast(invocation_id as {{ dbt.type_string() }}) as invocation_id,
        cast(generated_at as {{ dbt.type_timestamp() }}) as generated_at,
        cast(elapsed_seconds as decimal(18, 3)) as elapsed_seconds,
        cast(models_succeeded as {{ dbt.type_bigint() }}) as models_succeeded,
        cast(models_errored as {{ dbt.type_bigint() }}) as models_errored,
        cast(tests_passed as {{ dbt.type_bigint() }}) as tests_passed,
        cast(tests_warned as {{ dbt.type_bigint() }}) as tests_warned,
        cast(tests_failed as {{ dbt.type_bigint() }}) as tests_failed,
        cast(tests_errored as {{ dbt.type_bigint() }}) as tests_errored,
        is_successful
    from invocations
)

select * from final
