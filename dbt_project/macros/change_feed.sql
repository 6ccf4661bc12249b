{#- Incremental models that read their DuckLake inputs' change feed (DuckDB).

    A model's last build is a snapshot S of the lake: the newest snapshot that wrote its
    table (or created it). What its inputs changed since is their change feed from S + 1
    on (the rows inserted and deleted, changed_rows: a rewritten row shows as it was and
    as it is), and what they were then is time travel (`at (version => S)`).
    Builds take turns (one build lock per data folder) and a model is written after its
    inputs, so the inputs at S are what its last build read. A build that wrote nothing
    leaves S where it was: the next one reads the changes from the older S, which is still
    right, since the model did not change either; and a build stopped between an input
    and the model leaves the input's changes in the feed for the next one.

    Three uses:
    - models that recompute the keys their input changed (changed_keys, changed_rows,
      rows_changed_upstream): the facts re-read the orders `int_orders_enriched` changed;
      `int_customer_order_history` and `customer_lifetime_value` their customers,
      `funnel_conversion` their days, `int_risk_events_unioned` their payments and
      refunds, `risk_features` the entities and times of the events that changed;
    - aggregates kept by difference (`daily_revenue`, `sales_by_region_product`): each
      group's change is the aggregate of the changed orders' rows now minus the same
      aggregate over the inputs at S. Sums subtract; so does a count of distinct orders,
      since an order falls in one group whole. Only the groups whose change is not zero
      are rewritten, as built + change (delete+insert on the group's key), and a post-hook
      deletes groups left without an order (delete_emptied_groups). A status that moves
      from shipped to delivered moves no sum and rewrites nothing;
    - post-hooks that delete the keys gone upstream from the feed alone (gone_keys,
      macros/delete_rows_gone_upstream.sql: delete_gone_from_feed).

    When S is gone (expired by maintenance) or an input's table was created after S (a
    full refresh of that model alone: its new table has no record of the rows the old
    one lost), the plan is a rebuild: everything recomputed. On other engines, and on a
    first or full-refresh build, and in dbt's unit tests, the models run as before (mode
    'full'); `dbt show` previews a rebuild. -#}

{#- How this build of the model `this` runs, given the DuckLake tables whose change feed
    it reads (`feeds`): a dict with `mode` ('full', 'delta' or 'rebuild'), `since` (S) and
    `until` (the catalog's snapshot now). A feed created after S (a full refresh of that
    model alone) has no record of the rows its old table lost: that is a rebuild too. -#}
{%- macro change_feed_plan(feeds) -%}
    {#- a dbt unit test's `this` is a fixture, with no history: the models' other path -#}
    {%- if not execute or this is none or target.type != 'duckdb' or not is_incremental()
        or model.resource_type != 'model' -%}
        {{- return({'mode': 'full', 'since': none, 'until': none}) -}}
    {%- endif -%}
    {#- `dbt show` runs the body without the model's hooks, and a delta body may read what a
        pre-hook wrote (macros/changed_keys_table.sql): it shows the rebuild's rows -#}
    {%- if flags.WHICH == 'show' -%}
        {{- return({'mode': 'rebuild', 'since': none, 'until': none}) -}}
    {%- endif -%}
    {%- set metadata = '__ducklake_metadata_' ~ this.database -%}
    {%- set named = [] -%}
    {%- for relation in [this] + feeds -%}
        {%- do named.append("('" ~ relation.schema ~ "', '" ~ relation.identifier ~ "')") -%}
    {%- endfor -%}
    {%- set found = run_query(
        "with tables as (select t.table_id, t.begin_snapshot, s.schema_name, t.table_name from "
        ~ metadata ~ ".ducklake_table as t join " ~ metadata ~ ".ducklake_schema as s"
        ~ " on s.schema_id = t.schema_id where t.end_snapshot is null"
        ~ " and s.end_snapshot is null and (s.schema_name, t.table_name) in ("
        ~ named | join(', ') ~ ")),"
        ~ " mart as (select * from tables where schema_name = '" ~ this.schema
        ~ "' and table_name = '" ~ this.identifier ~ "'),"
        ~ " snapshots as (select snapshot_id, changes from " ~ this.database ~ ".snapshots())"
        ~ " select greatest(mart.begin_snapshot, (select max(snapshot_id) from snapshots where"
        ~ " list_contains(changes['tables_inserted_into'], cast(mart.table_id as varchar))"
        ~ " or list_contains(changes['tables_deleted_from'], cast(mart.table_id as varchar)))),"
        ~ " (select max(snapshot_id) from snapshots), (select min(snapshot_id) from snapshots),"
        ~ " (select max(begin_snapshot) from tables where table_id != mart.table_id),"
        ~ " (select count(*) from tables) from mart"
    ) -%}
    {%- set row = found.rows[0] if found.rows | length else [none, none, none, none, 0] -%}
    {%- set since, until, oldest, feeds_created, tables = row[0], row[1], row[2], row[3], row[4] -%}
    {%- if since is none or oldest is none or since < oldest -%}
        {%- set why = "the snapshot of its last build is gone" -%}
    {%- elif tables != feeds | length + 1 or feeds_created > since -%}
        {%- set why = "an input was created since its last build" -%}
    {%- endif -%}
    {%- if why is defined -%}
        {%- do log(this ~ ": rebuild (" ~ why ~ ")", info=false) -%}
        {{- return({'mode': 'rebuild', 'since': none, 'until': until}) -}}
    {%- endif -%}
    {%- do log(this ~ ": changes from snapshot " ~ since ~ " to " ~ until, info=false) -%}
    {{- return({'mode': 'delta', 'since': since | int, 'until': until | int}) -}}
{%- endmacro -%}

{#- `relation` (named `alias`) as it was at `version` (none: as it is now); DuckDB's
    time travel clause follows the alias. -#}
{%- macro at_snapshot(relation, version, alias=none) -%}
    {{ relation }}{% if alias %} as {{ alias }}{% endif %}
    {%- if version is not none %} at (version => {{ version }}){% endif %}
{%- endmacro -%}

{#- The states an aggregate is computed over: now (+1), and in a delta the same rows as
    they were at the plan's snapshot (-1). -#}
{%- macro feed_states(plan) -%}
    {%- if plan.mode == 'delta' -%}
        {{- return([{'name': 'now', 'version': none, 'sign': 1},
                    {'name': 'before', 'version': plan.since, 'sign': -1}]) -}}
    {%- endif -%}
    {{- return([{'name': 'now', 'version': none, 'sign': 1}]) -}}
{%- endmacro -%}

{#- In a delta (rows now with sign +1, the same rows then with sign -1): the change of
    a count of distinct `column`, which subtracts only if each value lies in one group
    whole (an order in one day and country). -#}
{%- macro net_count_distinct(column) -%}
    count(distinct case when sign = 1 then {{ column }} end)
    - count(distinct case when sign = -1 then {{ column }} end)
{%- endmacro -%}

{#- The `columns` of the rows the DuckLake table `relation` inserted or deleted after the
    plan's snapshot (a rewritten row twice: as it was, and as it is). The insertions and
    the deletions apart, not ducklake_table_changes: that one also pairs them into
    updates, which cost 0.2 to 0.4 s more per read at scale 10 (docs/dbt.md). -#}
{%- macro changed_rows(plan, relation, columns) -%}
    {%- if plan.since >= plan.until -%}
        select {{ columns | join(', ') }} from {{ relation }} where false
    {%- else -%}
        {%- for change in ['insertions', 'deletions'] %}
        {{ 'union all' if not loop.first }}
        select {{ columns | join(', ') }} from ducklake_table_{{ change }}(
            '{{ relation.database }}', '{{ relation.schema }}', '{{ relation.identifier }}',
            {{ plan.since + 1 }}, {{ plan.until }}
        )
        {%- endfor %}
    {%- endif -%}
{%- endmacro -%}

{#- The distinct `key`s, nulls left out, of the rows the DuckLake tables `relations`
    inserted or deleted after the plan's snapshot: a select of one column named `key`. -#}
{%- macro changed_keys(plan, relations, key) -%}
    select distinct {{ key }} from (
    {%- for relation in relations %}
        {{ 'union all' if not loop.first }}
        select {{ key }} from ({{ changed_rows(plan, relation, [key]) }}) as changed_{{ loop.index }}
    {%- endfor %}
    ) as changed
    where {{ key }} is not null
{%- endmacro -%}

{#- The `key`s the DuckLake table `relation` no longer holds after the changes since the
    plan's snapshot: deleted (of the rows that match `condition`) with no insert in the
    same snapshot or a later one. A rewritten row is deleted and inserted in one snapshot.
    From the feed alone: no scan of the table. -#}
{%- macro gone_keys(plan, relation, key, condition='true') -%}
    {%- if plan.since >= plan.until -%}
        select {{ key }} from {{ relation }} where false
    {%- else -%}
        select {{ key }}
        from ducklake_table_changes(
            '{{ relation.database }}', '{{ relation.schema }}', '{{ relation.identifier }}',
            {{ plan.since + 1 }}, {{ plan.until }}
        )
        where {{ condition }}
        group by {{ key }}
        having
            max(case when change_type in ('delete', 'update_preimage') then snapshot_id end)
            > coalesce(
                max(case when change_type in ('insert', 'update_postimage') then snapshot_id end),
                -1
            )
    {%- endif -%}
{%- endmacro -%}

{#- The `key`s whose `columns` in `relation` differ now from the plan's snapshot (added,
    changed or gone), among its rows that match `condition`: a select of one column named
    `key`. -#}
{%- macro changed_since_plan(plan, relation, key, columns, condition='true') -%}
    {%- set listed = ([key] + columns) | join(', ') -%}
    select {{ key }} from (
        (select {{ listed }} from {{ relation }} where {{ condition }}
         except
         select {{ listed }} from {{ at_snapshot(relation, plan.since) }} where {{ condition }})
        union all
        (select {{ listed }} from {{ at_snapshot(relation, plan.since) }} where {{ condition }}
         except
         select {{ listed }} from {{ relation }} where {{ condition }})
    ) as differences
{%- endmacro -%}

{#- A filter for the rows of `upstream` (a DuckLake table) a fact re-reads: on DuckDB,
    those whose `key` is in the upstream's change feed since the fact's last build (all
    of them on a rebuild); on other engines the expression `otherwise`. `qualifier`
    prefixes the key where the query reads more than one relation. -#}
{%- macro rows_changed_upstream(upstream, key, otherwise, qualifier=none) -%}
    {%- set plan = change_feed_plan([upstream]) -%}
    {%- if plan.mode == 'delta' -%}
        {{ qualifier ~ '.' if qualifier }}{{ key }} in (
            {{ changed_keys(plan, [upstream], key) }}
        )
    {%- elif plan.mode == 'rebuild' -%}
        true
    {%- else -%}
        {{ otherwise }}
    {%- endif -%}
{%- endmacro -%}

{#- The post-hook of an aggregate kept from changes: the rows `condition` marks are
    groups whose orders are all gone (their change took the count to zero, or a key
    rewritten with no row left), which a full build has no row for. It runs in the
    model's transaction, so no reader sees them. -#}
{%- macro delete_emptied_groups(condition) -%}
    {%- if is_incremental() and target.type == 'duckdb' -%}
        delete from {{ this }} where {{ condition }}
    {%- endif -%}
{%- endmacro -%}
