{#- Customers as type-2 slowly changing dimension: one row per version, from the
    snapshot. Facts join the version valid when the order was placed, or the current one.
    On DuckDB an incremental build writes only the versions that are new or differ from
    the built row (a version closed by a newer one, a customer deleted at the source;
    macros/rows_that_differ.sql), not all 2.4 M of scale 10. A snapshot never drops a
    version. -#}
{{ config(
    materialized=('incremental' if target.type == 'duckdb' else 'table'),
    unique_key='customer_version_key',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns'
) }}
with

versions as (
    select * from {{ ref('snap_shop__customers') }}
),

final as (
    select
        {{ dbt.hash(dbt.concat([
            'cast(customer_id as ' ~ dbt.type_string() ~ ')',
            "'|'",
            'cast(dbt_valid_from as ' ~ dbt.type_string() ~ ')'
        ])) }} as customer_version_key,
        customer_id,
        email,
        first_name,
        last_name,
        country_code,
        signed_up_at,
        cast(dbt_valid_from as timestamp) as valid_from,
        cast(dbt_valid_to as timestamp) as valid_to,
        dbt_valid_to is null as is_current
    from versions
)

{%- if is_incremental() %},
{#- every column but the key: a new column must be added here, or the build stops -#}
{%- set compared = [
    'customer_id', 'email', 'first_name', 'last_name', 'country_code', 'signed_up_at',
    'valid_from', 'valid_to', 'is_current'
] %}
written as (
    {{ rows_that_differ(
        'final', 'customer_version_key', compared, ignored=['_dbt_invocation_id']
    ) }}
)
{%- endif %}

select
    *,
    {{ loaded_by_this_invocation() }}
from {{ 'written' if is_incremental() else 'final' }}
