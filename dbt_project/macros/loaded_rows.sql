{#- The rows an incremental model wrote in this dbt invocation, and the tests that read
    only those rows.
    Every incremental model carries `{{ loaded_by_this_invocation() }}`: the invocation
    that wrote each row. In a `dbt build` that merges (not --full-refresh), the data tests
    of an incremental model then read only the rows the build just wrote, instead of the
    whole table: a 1% change is tested in proportion to its size. This holds because the
    merge is delete+insert on the unique key: a key among the new rows is in no older
    row, so a duplicate, a null, an unknown value or a dangling reference can only come
    with the new rows. A uniqueness test of columns without the whole key reads
    everything; column_values' `unique` on such a column counts the whole table's rows
    with a value among the new rows'. Singular tests and every test of `dbt test` read
    everything. What a scoped test cannot see: an older row whose parent was deleted
    since (relationships); the nightly full refresh tests every row again. -#}

{%- macro loaded_by_this_invocation() -%}
    cast('{{ invocation_id }}' as varchar) as _dbt_invocation_id
{%- endmacro -%}

{#- dbt wraps the model of every generic test in get_where_subquery (the `where` config);
    the project's default__ version takes precedence over dbt's. -#}
{%- macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- if config.get('where', '') -%}
        {%- do conditions.append('(' ~ config.get('where') ~ ')') -%}
    {%- endif -%}
    {%- if test_reads_only_loaded_rows() -%}
        {%- do conditions.append("_dbt_invocation_id = '" ~ invocation_id ~ "'") -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro -%}

{%- macro test_reads_only_loaded_rows() -%}
    {%- if not execute or flags.WHICH != 'build' or flags.FULL_REFRESH -%}
        {%- do return(false) -%}
    {%- endif -%}
    {%- set tested = graph.nodes.get(model.get('attached_node') or '') -%}
    {%- if not tested or tested.config.materialized != 'incremental'
        or '_dbt_invocation_id' not in tested.columns -%}
        {%- do return(false) -%}
    {%- endif -%}
    {%- set metadata = model.get('test_metadata') or {} -%}
    {%- set kwargs = metadata.get('kwargs', {}) -%}
    {%- if metadata.get('name') in ('unique', 'unique_combination') -%}
        {#- a repeated combination that holds the whole key has one key: all its rows
            are new, or all were there when the last build tested them -#}
        {%- set columns = kwargs.get('combination') or [kwargs.get('column_name')] -%}
        {%- do return(unique_key_of(tested) | reject('in', columns) | list | length == 0) -%}
    {%- endif -%}
    {%- do return(true) -%}
{%- endmacro -%}

{%- macro unique_key_of(node) -%}
    {%- set unique_key = node.config.unique_key -%}
    {{ return([unique_key] if unique_key is string else unique_key) }}
{%- endmacro -%}

{#- For a test that reads only the loaded rows (test_reads_only_loaded_rows): the whole
    table they were loaded into and its unique key, for a rule that must look past them (a
    value unique beyond the key: column_values' `unique`); none for any other test. -#}
{%- macro loaded_rows_table() -%}
    {%- if not test_reads_only_loaded_rows() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set tested = graph.nodes[model.attached_node] -%}
    {{ return({'relation': tested.relation_name, 'unique_key': unique_key_of(tested)}) }}
{%- endmacro -%}


{#- What an incremental model re-reads from an upstream incremental model: the rows the
    upstream wrote in this invocation, whatever changed them (a source update, a restated
    FX rate), and, for a run of this model alone, the rows whose `cursor_column` is within
    the lookback window (var incremental_lookback_days) before the newest
    `this_cursor_column` this model holds. A boolean expression; `upstream` qualifies the
    upstream's columns where the query reads more than one relation. On DuckDB the facts
    read their upstream's change feed instead (macros/change_feed.sql), and this is what
    they do on PostgreSQL. -#}
{%- macro written_upstream_or_changed_since(cursor_column, this_cursor_column, upstream=none) -%}
    {%- set prefix = upstream ~ '.' if upstream else '' -%}
    (
        {{ prefix }}_dbt_invocation_id = '{{ invocation_id }}'
        or {{ prefix }}{{ cursor_column }} >= {{ lookback_cutoff(
            this_cursor_column, 'day', 'incremental_lookback_days', 3
        ) }}
    )
{%- endmacro -%}

{#- When the dbt run that wrote the row started (UTC, a timestamp without time zone on
    both engines): an order between runs, unlike the invocation id. risk_features takes
    the events int_risk_events_unioned wrote after its own latest run as its changes. -#}
{%- macro run_started_at_column() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
        as _dbt_run_started_at
{%- endmacro -%}
