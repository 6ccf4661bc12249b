"""The models that read their inputs' DuckLake change feed (macros/change_feed.sql), on a copy of
the session's tiny DuckDB build (tests/tiny_build.py):

- int_orders_enriched re-reads its lookback window but writes only the orders that changed,
  and fct_orders re-reads only those (its upstream's change feed since its last build);
- daily_revenue, sales_by_region_product, int_customer_order_history and
  customer_lifetime_value, after changes of every kind (some across two builds of the facts
  they missed; a buyer who moves, a customer deleted at the source), rewrite only the groups
  or customers the changes reach and equal a full build, to the cent; so do the facts;
- when those changes cannot be read (the facts rebuilt alone from scratch, or the snapshot of
  the models' last build expired), they are rebuilt whole and still equal a full build;
- funnel_conversion and clickstream_traffic_daily write nothing when no event arrived, and
  after new events only the days they reach, equal to a full build;
- dim_customers writes only the versions that changed, and stops on a built column it does
  not compare;
- `dbt show` of a model whose delta reads what its pre-hook wrote previews the rebuild.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from lake import parse_lake_url
from lake.tables.catalog import TableCatalog, connect
from tests.test_dbt_postgres import TINY_BUILD
from tests.tiny_build import copy_of_the_build, dbt_run, warehouse_and_lake

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(TINY_BUILD)]

MARTS = {  # model: its schema (gold or silver)
    "daily_revenue": "marts",
    "sales_by_region_product": "marts",
    "int_customer_order_history": "intermediate",
    "customer_lifetime_value": "marts",
}
CLICKSTREAM_MARTS = ["funnel_conversion", "clickstream_traffic_daily"]
GOLD_FACTS = ["fct_orders", "fct_order_items", "fct_payments", "fct_refunds"]
# `dbt run` builds no snapshot: the test runs `dbt snapshot` where the customers change
FACTS = ["int_orders_enriched", *GOLD_FACTS, "dim_products", "dim_customers"]


def _rows(con: duckdb.DuckDBPyConnection, mart: str, schema: str | None = None) -> set[tuple]:
    """A model's rows without the columns that say which build wrote them."""
    return set(
        con.execute(
            f"select columns(lambda c: not starts_with(c, '_dbt_')) "
            f"from lake.{schema or MARTS[mart]}.{mart}"
        ).fetchall()
    )


def _last_write(con: duckdb.DuckDBPyConnection, table: str) -> int | None:
    """The newest snapshot that inserted into or deleted from the gold table."""
    return con.execute(
        "select max(snapshot_id) from lake.snapshots() where list_has_any("
        "coalesce(changes['tables_inserted_into'], []) || "
        "coalesce(changes['tables_deleted_from'], []), [(select cast(table_id as varchar) "
        "from __ducklake_metadata_lake.ducklake_table where table_name = $1 "
        "and end_snapshot is null)])",
        [table],
    ).fetchone()[0]


def _groups_written_last(
    con: duckdb.DuckDBPyConnection, mart: str, schema: str | None = None
) -> int:
    """The rows the mart's newest snapshot that inserted any inserted (its change feed)."""
    wrote, newest = con.execute(
        "select max(snapshot_id) filter (where list_contains(changes['tables_inserted_into'], "
        "(select cast(table_id as varchar) from __ducklake_metadata_lake.ducklake_table "
        "where table_name = $1 and end_snapshot is null))), max(snapshot_id) "
        "from lake.snapshots()",
        [mart],
    ).fetchone()
    return con.execute(
        "select count(*) from ducklake_table_changes('lake', $1, $2, $3, $4) "
        "where change_type = 'insert'",
        [schema or MARTS[mart], mart, wrote, newest],
    ).fetchone()[0]


def _first_changes(con: duckdb.DuckDBPyConnection, newest) -> dict[str, int]:
    """Changes that move revenue, and some that move none, in staging as a sync brings them."""
    later = newest + timedelta(hours=1)
    moved = con.execute(  # status only: no revenue moves
        "update staging.stg_shop__orders set order_status = 'delivered', updated_at = $1 "
        "where order_id in (select order_id from staging.stg_shop__orders "
        "where order_status = 'shipped' order by order_id limit 40)",
        [later],
    ).fetchone()[0]
    cancelled = con.execute(  # out of every aggregate
        "update staging.stg_shop__orders set order_status = 'cancelled', updated_at = $1 "
        "where order_id in (select order_id from staging.stg_shop__orders "
        "where order_status = 'delivered' order by order_id desc limit 5)",
        [later],
    ).fetchone()[0]
    # a new order: a copy of one with lines, placed now, with lines of its own
    new_id = con.execute("select max(order_id) + 1 from staging.stg_shop__orders").fetchone()[0]
    source_order = con.execute(
        "select min(order_id) from staging.stg_shop__order_items"
    ).fetchone()[0]
    con.execute(
        "insert into staging.stg_shop__orders select * replace ($1 as order_id, "
        "'paid' as order_status, $2 as ordered_at, cast($2 as date) as order_date, "
        "$2 as updated_at) from staging.stg_shop__orders where order_id = $3",
        [new_id, later, source_order],
    )
    con.execute(
        "insert into staging.stg_shop__order_items select * replace ("
        "order_item_id + (select max(order_item_id) from staging.stg_shop__order_items) "
        "as order_item_id, $1 as order_id, $2 as created_at, $2 as updated_at) "
        "from staging.stg_shop__order_items where order_id = $3",
        [new_id, later, source_order],
    )
    in_lookback = con.execute(  # what int_orders_enriched's cursor re-reads: 3 days back
        "select count(*) from staging.stg_shop__orders where updated_at >= "
        "(select max(last_changed_at) - interval 3 day from lake.intermediate.int_orders_enriched)"
    ).fetchone()[0]
    return {"moved": moved, "cancelled": cancelled, "new_order": new_id, "in_lookback": in_lookback}


def _second_changes(con: duckdb.DuckDBPyConnection, newest) -> dict[str, int]:
    """A buyer who moves to another country, an order deleted at the source, and a product
    put in another category."""
    later = newest + timedelta(hours=2)
    # the buyer has no order the first changes touched: only the customer's country moves
    customer = con.execute(
        "select customer_id from staging.stg_shop__orders where order_status = 'delivered' "
        "group by customer_id having max(updated_at) <= $1 "
        "order by count(*) desc, customer_id limit 1",
        [newest],
    ).fetchone()[0]
    con.execute(
        "update staging.stg_shop__customers set country_code = (select min(country_code) "
        "from staging.stg_shop__customers where country_code != ("
        "select country_code from staging.stg_shop__customers where customer_id = $1)), "
        "updated_at = $2 where customer_id = $1",
        [customer, later],
    )
    deleted = con.execute(
        "select min(order_id) from staging.stg_shop__orders where order_status = 'delivered' "
        "and order_id in (select order_id from staging.stg_shop__order_items) and order_id "
        "not in (select order_id from staging.stg_shop__refunds) and order_id not in ("
        "select order_id from staging.stg_shop__disputes)"
    ).fetchone()[0]
    for table in ("order_items", "payments", "orders"):
        con.execute(f"delete from staging.stg_shop__{table} where order_id = $1", [deleted])
    # a customer erased at the source with their orders (none refunded or disputed): the
    # snapshot closes the customer's version
    gone_customer = con.execute(
        "select min(customer_id) from staging.stg_shop__orders where customer_id != $1 "
        "and customer_id not in (select orders.customer_id from staging.stg_shop__orders "
        "as orders where orders.order_id in (select order_id from staging.stg_shop__refunds "
        "union all select order_id from staging.stg_shop__disputes))",
        [customer],
    ).fetchone()[0]
    for table in ("order_items", "payments"):
        con.execute(
            f"delete from staging.stg_shop__{table} where order_id in ("
            "select order_id from staging.stg_shop__orders where customer_id = $1)",
            [gone_customer],
        )
    for table in ("orders", "customers"):
        con.execute(
            f"delete from staging.stg_shop__{table} where customer_id = $1", [gone_customer]
        )
    recategorized = con.execute(
        "update staging.stg_shop__products set product_category = 'recategorized', "
        "updated_at = $1 where product_id = (select min(product_id) from "
        "staging.stg_shop__order_items)",
        [later],
    ).fetchone()[0]
    return {
        "customer moved": customer,
        "deleted": 1,
        "customer deleted": gone_customer,
        "recategorized": recategorized,
    }


def test_models_apply_the_changes_since_their_last_build_and_equal_a_full_build(
    tiny_synced: Path, tiny_duckdb_build: Path, tmp_path: Path
):
    warehouse, lake = copy_of_the_build(tiny_synced, tiny_duckdb_build, tmp_path)
    with warehouse_and_lake(warehouse, lake) as con:
        before = {mart: _rows(con, mart) for mart in MARTS}
        newest = con.execute("select max(updated_at) from staging.stg_shop__orders").fetchone()[0]
        first = _first_changes(con, newest)
    assert first["moved"] == 40 and first["cancelled"] == 5, first

    # the facts take the first changes in a build that stops before the marts
    dbt_run(warehouse, lake, tmp_path, "--select", *FACTS)
    with warehouse_and_lake(warehouse, lake) as con:
        written = {
            model: con.execute(
                f"select count(*) from lake.{schema}.{model} where _dbt_invocation_id = "
                f"(select _dbt_invocation_id from lake.{schema}.{model} where order_id = $1)",
                [first["new_order"]],
            ).fetchone()[0]
            for model, schema in (("int_orders_enriched", "intermediate"), ("fct_orders", "marts"))
        }
        # fct_orders also rewrites the orders of buyers changed within its own lookback
        expected_fct_orders = con.execute(
            "select count(*) from (select order_id from lake.intermediate.int_orders_enriched "
            "where _dbt_invocation_id = (select _dbt_invocation_id from "
            "lake.intermediate.int_orders_enriched where order_id = $1) union "
            "select orders.order_id from staging.stg_shop__orders as orders "
            "join staging.stg_shop__customers as customers using (customer_id) "
            "where customers.updated_at >= (select max(last_changed_at) - interval 3 day "
            "from lake.marts.fct_orders))",
            [first["new_order"]],
        ).fetchone()[0]
        second = _second_changes(con, newest)
    # int_orders_enriched re-read every order of its lookback window but wrote only those
    # that changed, and fct_orders re-read only those (its upstream's change feed)
    changed = first["moved"] + first["cancelled"] + 1
    assert first["in_lookback"] > changed, first
    assert written == {"int_orders_enriched": changed, "fct_orders": expected_fct_orders}, (
        written,
        expected_fct_orders,
    )
    assert second["recategorized"] == 1, second

    dbt_run(warehouse, lake, tmp_path, verb="snapshot")  # the buyer's move, the erasure
    out = dbt_run(warehouse, lake, tmp_path, "--select", *FACTS, *MARTS)
    with warehouse_and_lake(warehouse, lake) as con:
        incremental = {mart: _rows(con, mart) for mart in MARTS}
        written = {mart: _groups_written_last(con, mart) for mart in MARTS}
    for mart in MARTS:
        assert f"incremental model lake.{MARTS[mart]}.{mart}" in out
        changed = incremental[mart] - before[mart]
        # the changes reached some groups, and only those were written
        assert 0 < len(changed) <= written[mart] < len(incremental[mart]) / 2, (
            mart,
            len(changed),
            written[mart],
            len(incremental[mart]),
        )
    # a category that did not exist before: the recategorized product's revenue moved there
    assert any(row[2] == "recategorized" for row in incremental["daily_revenue"])
    # the customer deleted at the source is no longer a customer with a lifetime value
    lifetime_customers = {
        mart: {row[0] for row in rows}
        for mart, rows in (
            ("before", before["customer_lifetime_value"]),
            ("after", incremental["customer_lifetime_value"]),
        )
    }
    assert second["customer deleted"] in lifetime_customers["before"]
    assert second["customer deleted"] not in lifetime_customers["after"]

    # the facts, which replaced the re-read orders whole and deleted the order gone at the
    # source (its lines and payments too), and dim_customers equal a full build of them
    with warehouse_and_lake(warehouse, lake) as con:
        facts = {fact: _rows(con, fact, "marts") for fact in [*GOLD_FACTS, "dim_customers"]}
        # dim_customers wrote the versions the snapshot added or closed, not every one: the
        # moved buyer's closed and new versions, the erased customer's closed one
        written_dim = con.execute(
            "select customer_id, is_current from ducklake_table_insertions('lake', 'marts', "
            "'dim_customers', $1, $1) order by customer_id, is_current",
            [_last_write(con, "dim_customers")],
        ).fetchall()
    moved, erased = second["customer moved"], second["customer deleted"]
    assert written_dim == sorted([(moved, False), (moved, True), (erased, False)]), written_dim
    dbt_run(warehouse, lake, tmp_path, "--select", *GOLD_FACTS, "dim_customers", "--full-refresh")
    with warehouse_and_lake(warehouse, lake) as con:
        for fact in [*GOLD_FACTS, "dim_customers"]:
            rebuilt_fact = _rows(con, fact, "marts")
            assert facts[fact] == rebuilt_fact, (
                fact,
                sorted(facts[fact] - rebuilt_fact)[:3],
                sorted(rebuilt_fact - facts[fact])[:3],
            )

    dbt_run(warehouse, lake, tmp_path, "--select", *MARTS, "--full-refresh")
    with warehouse_and_lake(warehouse, lake) as con:
        rebuilt = {mart: _rows(con, mart) for mart in MARTS}
    for mart in MARTS:
        assert incremental[mart] == rebuilt[mart], (
            mart,
            sorted(incremental[mart] - rebuilt[mart])[:5],
            sorted(rebuilt[mart] - incremental[mart])[:5],
        )

    # two ways the changes since the marts' last build cannot be read, after a change that
    # moves revenue: an order deleted at the source, then the facts rebuilt alone from
    # scratch (their new tables have no record of the order); or, after a cancellation,
    # every snapshot but the newest expired. Either way the marts recompute every group.
    previous = rebuilt
    for step, cause in enumerate(("facts rebuilt", "snapshots expired"), start=3):
        with warehouse_and_lake(warehouse, lake) as con:
            if cause == "facts rebuilt":
                order = con.execute(
                    "select max(order_id) from staging.stg_shop__orders "
                    "where order_status = 'delivered' and order_id not in ("
                    "select order_id from staging.stg_shop__refunds) and order_id not in ("
                    "select order_id from staging.stg_shop__disputes)"
                ).fetchone()[0]
                for table in ("order_items", "payments", "orders"):
                    con.execute(
                        f"delete from staging.stg_shop__{table} where order_id = $1", [order]
                    )
            else:
                con.execute(
                    "update staging.stg_shop__orders set order_status = 'cancelled', "
                    "updated_at = $1 where order_id = (select max(order_id) from "
                    "staging.stg_shop__orders where order_status = 'delivered')",
                    [newest + timedelta(hours=step)],
                )
        refresh = ["--full-refresh"] if cause == "facts rebuilt" else []
        dbt_run(warehouse, lake, tmp_path, "--select", *FACTS, *refresh)
        if cause == "snapshots expired":
            with connect(TableCatalog.beside(parse_lake_url(str(lake)))) as con:
                older = con.execute(
                    "select list(snapshot_id) from lake.snapshots() "
                    "where snapshot_id < (select max(snapshot_id) from lake.snapshots())"
                ).fetchone()[0]
                con.execute(f"call ducklake_expire_snapshots('lake', versions => {older})")
        dbt_run(warehouse, lake, tmp_path, "--select", *MARTS)
        with warehouse_and_lake(warehouse, lake) as con:
            after = {mart: _rows(con, mart) for mart in MARTS}
            for mart in MARTS:  # every group written again
                assert _groups_written_last(con, mart) >= len(after[mart]), (cause, mart)
        dbt_run(warehouse, lake, tmp_path, "--select", *MARTS, "--full-refresh")
        with warehouse_and_lake(warehouse, lake) as con:
            for mart in MARTS:
                assert after[mart] == _rows(con, mart), (cause, mart)
                assert after[mart] != previous[mart], (cause, mart)  # the change moved it
        previous = after


def test_clickstream_marts_recompute_only_the_days_new_events_reach(
    tiny_synced: Path, tiny_duckdb_build: Path, tmp_path: Path
):
    warehouse, lake = copy_of_the_build(tiny_synced, tiny_duckdb_build, tmp_path)
    models = ["int_clickstream_sessionized", *CLICKSTREAM_MARTS]
    # no new event: neither mart writes anything
    with warehouse_and_lake(warehouse, lake) as con:
        before = {mart: _last_write(con, mart) for mart in CLICKSTREAM_MARTS}
    out = dbt_run(warehouse, lake, tmp_path, "--select", *models)
    with warehouse_and_lake(warehouse, lake) as con:
        assert {mart: _last_write(con, mart) for mart in CLICKSTREAM_MARTS} == before
        for mart in CLICKSTREAM_MARTS:
            assert f"incremental model lake.marts.{mart}" in out
        # new events as a sync stages them: five visitors back two hours after their last
        # event (a new session each) and bot traffic on one other day
        landed = con.execute(
            "select max(_extracted_at) + interval 1 hour from staging.stg_clickstream__events"
        ).fetchone()[0]
        con.execute(
            "insert into staging.stg_clickstream__events select * replace ("
            "event_id || '-back' as event_id, occurred_at + interval 2 hour as occurred_at, "
            "cast(occurred_at + interval 2 hour as date) as event_date, "
            "$1 as _extracted_at) from staging.stg_clickstream__events "
            "where not is_bot and not is_test and anonymous_id is not null qualify "
            "row_number() over (partition by anonymous_id order by occurred_at desc) = 1 "
            "order by anonymous_id limit 5",
            [landed],
        )
        con.execute(
            "insert into staging.stg_clickstream__events select * replace ("
            "event_id || '-bot' as event_id, "
            "occurred_at - interval 3 day as occurred_at, "
            "cast(occurred_at - interval 3 day as date) as event_date, "
            "$1 as _extracted_at) from staging.stg_clickstream__events "
            "where is_bot order by event_id limit 3",
            [landed],
        )
        new_days = {
            row[0]
            for row in con.execute(
                "select distinct event_date from staging.stg_clickstream__events "
                "where _extracted_at = $1",
                [landed],
            ).fetchall()
        }
        days = con.execute(
            "select count(distinct event_date) from lake.marts.clickstream_traffic_daily"
        ).fetchone()[0]
    dbt_run(warehouse, lake, tmp_path, "--select", *models)
    with warehouse_and_lake(warehouse, lake) as con:
        incremental = {mart: _rows(con, mart, "marts") for mart in CLICKSTREAM_MARTS}
        # clickstream_traffic_daily wrote the days of the new events, and only those
        written_days = {
            row[0]
            for row in con.execute(
                "select distinct event_date from ducklake_table_insertions("
                "'lake', 'marts', 'clickstream_traffic_daily', $1, $1)",
                [_last_write(con, "clickstream_traffic_daily")],
            ).fetchall()
        }
        funnel_written = _groups_written_last(con, "funnel_conversion", "marts")
    assert written_days == new_days and 0 < len(new_days) < days / 2, (new_days, written_days)
    assert 0 < funnel_written < len(incremental["funnel_conversion"]) / 2, funnel_written
    dbt_run(warehouse, lake, tmp_path, "--select", *CLICKSTREAM_MARTS, "--full-refresh")
    with warehouse_and_lake(warehouse, lake) as con:
        for mart in CLICKSTREAM_MARTS:
            assert incremental[mart] == _rows(con, mart, "marts"), mart

    # a table built before its cursor column existed is counted again whole, once
    with connect(TableCatalog.beside(parse_lake_url(str(lake)))) as con:
        con.execute(
            "alter table lake.marts.clickstream_traffic_daily drop column last_extracted_at"
        )
    dbt_run(warehouse, lake, tmp_path, "--select", "clickstream_traffic_daily")
    with warehouse_and_lake(warehouse, lake) as con:
        upgraded = _rows(con, "clickstream_traffic_daily", "marts")
    assert upgraded == incremental["clickstream_traffic_daily"]


def test_a_built_column_the_comparison_does_not_list_stops_the_build(
    tiny_synced: Path, tiny_duckdb_build: Path, tmp_path: Path
):
    """dim_customers writes only the versions that differ in its compared columns
    (macros/rows_that_differ.sql): a column it does not compare would never be written
    again, so the build stops naming it, and nothing is written."""
    warehouse, lake = copy_of_the_build(tiny_synced, tiny_duckdb_build, tmp_path)
    with connect(TableCatalog.beside(parse_lake_url(str(lake)))) as con:
        con.execute("alter table lake.marts.dim_customers add column loyalty_tier varchar")
        written = _last_write(con, "dim_customers")
    out = dbt_run(warehouse, lake, tmp_path, "--select", "dim_customers", green=False)
    assert '"dim_customers": add loyalty_tier to the compared columns' in out, out[-3000:]
    with warehouse_and_lake(warehouse, lake) as con:
        assert _last_write(con, "dim_customers") == written


# the models whose delta body reads the changed keys their pre-hook wrote to a temporary
# table (macros/changed_keys_table.sql), and their key columns
PRE_HOOK_MODELS = {
    "daily_revenue": ["order_date", "country_code", "product_category"],
    "sales_by_region_product": ["product_id", "country_code"],
    "customer_lifetime_value": ["customer_id"],
}


def test_dbt_show_of_a_model_whose_delta_reads_its_pre_hooks_table_previews_the_rebuild(
    tiny_synced: Path, tiny_duckdb_build: Path, tmp_path: Path
):
    """`dbt show` runs a model's body without its hooks, so a delta body would read a
    temporary table no hook wrote; it previews the rebuild instead (macros/change_feed.sql):
    every row the built table holds."""
    warehouse, lake = copy_of_the_build(tiny_synced, tiny_duckdb_build, tmp_path)
    for model, keys in PRE_HOOK_MODELS.items():
        # `dbt show` prints no ERROR=0 summary: its preview says it ran
        out = dbt_run(
            warehouse, lake, tmp_path, "--select", model, "--limit", "-1", "--output", "json",
            "--log-format", "json", verb="show", green=False,
        )  # fmt: skip
        events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        previews = [e["data"]["preview"] for e in events if e["info"]["name"] == "ShowNode"]
        assert len(previews) == 1, out[-3000:]
        shown = [tuple(row[k] for k in keys) for row in json.loads(previews[0])]
        with warehouse_and_lake(warehouse, lake) as con:
            built = con.execute(
                f"select {', '.join(keys)} from lake.{MARTS[model]}.{model}"
            ).fetchall()
        as_shown = {tuple(str(v) for v in row) for row in shown}
        assert len(shown) == len(built) > 0, (model, len(shown), len(built))
        assert as_shown == {tuple(str(v) for v in row) for row in built}, model
