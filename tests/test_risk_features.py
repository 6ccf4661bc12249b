"""risk_features on real builds: every feature equals a brute-force count of the events
strictly before its attempt; an incremental run after upstream changes rewrites what they
reach (not what only an order's status touched) and equals the full build; PostgreSQL
computes the same features as DuckDB.

The data is the session's tiny build on both engines (tests/tiny_build.py), shared with
tests/test_dbt_postgres.py.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.test_dbt_postgres import TINY_BUILD, duckdb_layers, pg
from tests.tiny_build import PostgresBuild, copy_of_the_build, dbt_run, warehouse_and_lake

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(TINY_BUILD)]

WINDOWS = {"1h": "1 hour", "24h": "24 hours", "7d": "7 days", "30d": "30 days"}
EVENT_TYPES = ("payment", "failed_payment", "refund", "dispute")
FEATURES = [
    f"{event_type}_{measure}_{window}"
    for window in WINDOWS
    for event_type in EVENT_TYPES
    for measure in ("count", "amount")
]


def _window_sums(as_of: str, amount: str) -> str:
    """Every feature as a sum over the joined events `e` (already those of the 30 days
    before `as_of`) of those in its window: select-list items."""
    return ",\n".join(
        f"coalesce(sum(case when e.event_type = '{event_type}' and e.event_at >= "
        f"{as_of} - interval '{span}' then {'1' if measure == 'count' else amount} "
        f"end), 0) as {event_type}_{measure}_{window}"
        for window, span in WINDOWS.items()
        for event_type in EVENT_TYPES
        for measure in ("count", "amount")
    )


def _brute_force_sql() -> str:
    """Each attempt's features, counted event by event with plain comparisons."""
    measures = _window_sums("f.as_of_at", "e.amount")
    return f"""
        with events as (
            select 'customer' as entity_type, customer_id as entity_id, event_type, event_at,
                amount_reporting as amount
            from intermediate.int_risk_events_unioned
            union all
            select 'merchant', merchant_id, event_type, event_at, amount_reporting
            from intermediate.int_risk_events_unioned
        )
        select f.entity_type, f.payment_id, {measures}
        from marts.risk_features as f
        left join events as e
            on e.entity_type = f.entity_type and e.entity_id = f.entity_id
            and e.event_at < f.as_of_at and e.event_at >= f.as_of_at - interval '30 days'
        group by f.entity_type, f.payment_id
    """


def _mismatches(con: duckdb.DuckDBPyConnection, left: str, right: str) -> list[tuple]:
    return con.execute(f"({left}) except ({right}) union all ({right}) except ({left})").fetchall()


def test_every_feature_counts_exactly_the_events_strictly_before_the_attempt(tiny_duckdb_build):
    duckdb_build = tiny_duckdb_build
    con = duckdb_layers(duckdb_build, duckdb_build.parent / "lake")
    columns = ", ".join(["entity_type", "payment_id", *FEATURES])
    features = f"select {columns} from marts.risk_features"
    rows, customers, merchants = con.execute(
        "select count(*), count(*) filter (where entity_type = 'customer'), "
        "count(*) filter (where entity_type = 'merchant') from marts.risk_features"
    ).fetchone()
    attempts = con.execute("select count(*) from marts.fct_payments").fetchone()[0]
    assert customers == merchants == attempts > 1000 and rows == 2 * attempts
    assert _mismatches(con, features, f"select {columns} from ({_brute_force_sql()})") == []
    # the windows are not empty: the comparison above compared something
    busy = con.execute(
        "select count(*) filter (where payment_count_7d > 0), "
        "count(*) filter (where refund_count_30d > 0), "
        "count(*) filter (where failed_payment_count_24h > 0) from marts.risk_features"
    ).fetchone()
    assert all(n > 0 for n in busy), busy


def test_merchant_risk_counts_each_merchants_events_before_the_end_of_the_data(
    tiny_duckdb_build,
):
    con = duckdb_layers(tiny_duckdb_build, tiny_duckdb_build.parent / "lake")
    as_of = con.execute(
        "select date_trunc('day', max(event_at)) + interval '1 day' "
        "from intermediate.int_risk_events_unioned "
        "where event_type in ('payment', 'failed_payment')"
    ).fetchone()[0]
    measures = _window_sums("$1", "e.amount_reporting")
    brute_force = f"""
        select m.merchant_id, $1 as as_of_at, {measures}
        from marts.dim_merchants as m
        left join intermediate.int_risk_events_unioned as e
            on e.merchant_id = m.merchant_id
            and e.event_at < $1 and e.event_at >= $1 - interval '30 days'
        group by m.merchant_id
    """
    columns = ", ".join(["merchant_id", "as_of_at", *FEATURES])
    built = f"select {columns} from marts.merchant_risk"
    differ = con.execute(
        f"({built}) except ({brute_force}) union all ({brute_force}) except ({built})", [as_of]
    ).fetchall()
    assert differ == []
    merchants, busy = con.execute(
        "select count(*), count(*) filter (where payment_count_30d > 0 and refund_count_7d > 0) "
        "from marts.merchant_risk"
    ).fetchone()
    assert merchants == con.execute("select count(*) from marts.dim_merchants").fetchone()[0]
    assert busy > 0, busy  # the windows are not empty: the comparison compared something


def test_an_incremental_run_after_upstream_changes_equals_a_full_build(
    tiny_synced, tiny_duckdb_build, tmp_path
):
    synced, duckdb_build = tiny_synced, tiny_duckdb_build
    warehouse, lake = copy_of_the_build(synced, duckdb_build, tmp_path)
    features = (
        "select * exclude (_dbt_invocation_id, _dbt_run_started_at) from lake.marts.risk_features"
    )
    with warehouse_and_lake(warehouse, lake) as con:
        con.execute(f"create table before_changes as {features}")
        newest = con.execute("select max(as_of_at) from lake.marts.risk_features").fetchone()[0]
        # upstream changes of old events, as a change set makes them: payments of two
        # orders from the middle of the period deleted at the source, and a dispute opened
        # 40 days before the end that arrives now
        deleted = con.execute(
            "select order_id from staging.stg_shop__payments "
            "order by abs(epoch(paid_at) - epoch($1 - interval '150 days')) limit 2",
            [newest],
        ).fetchall()
        attempts_deleted = 0
        for (order_id,) in deleted:
            attempts_deleted += con.execute(
                "delete from staging.stg_shop__payments where order_id = $1", [order_id]
            ).fetchone()[0]
        # a refund deleted alone (its order stays): on DuckDB its event leaves
        # int_risk_events_unioned's change feed as it was, which reaches the attempts after it
        refund_deleted = con.execute(
            "delete from staging.stg_shop__refunds where refund_id = (select refund_id "
            "from staging.stg_shop__refunds order by abs(epoch(refunded_at) - "
            "epoch($1 - interval '100 days')), refund_id limit 1)",
            [newest],
        ).fetchone()[0]
        con.execute(
            "insert into staging.stg_shop__disputes "
            "select * replace (dispute_id + 1000000 as dispute_id, "
            "$1 - interval '40 days' as opened_at, $1 as updated_at) "
            "from staging.stg_shop__disputes order by dispute_id limit 1",
            [newest],
        )
        # a payment that fails after the fact (a bank reversal): its order is rewritten
        # upstream (the payment's update moves its last_changed_at), its event changes type
        failed = con.execute(
            "update staging.stg_shop__payments set payment_status = 'failed', "
            "is_successful = false, updated_at = $1 + interval '1 hour' "
            "where payment_id = (select payment_id from staging.stg_shop__payments "
            "where is_successful and order_id not in (select unnest($2::bigint[])) "
            "order by abs(epoch(paid_at) - epoch($1 - interval '120 days')), payment_id "
            "limit 1)",
            [newest, [order_id for (order_id,) in deleted]],
        ).fetchone()[0]
        # and orders that only move from shipped to delivered, as a change set's updates
        # do: their events are unchanged, so they are no change for risk_features
        status_moved = con.execute(
            "update staging.stg_shop__orders "
            "set order_status = 'delivered', updated_at = $1 + interval '1 hour' "
            "where order_id in (select order_id from staging.stg_shop__orders "
            "where order_status = 'shipped' order by order_id limit 50)",
            [newest],
        ).fetchone()[0]

    # the events first, in a run of their own: risk_features then finds them as a run
    # that follows a build stopped after int_risk_events_unioned would
    out = dbt_run(
        warehouse, lake, tmp_path, "--select", "int_orders_enriched", "int_risk_events_unioned"
    )
    assert "incremental model lake.intermediate.int_risk_events_unioned" in out
    with warehouse_and_lake(warehouse, lake) as con:
        rewritten_orders = con.execute(
            "select count(*) from lake.intermediate.int_orders_enriched "
            "where order_status = 'delivered' and updated_at = $1 + interval '1 hour'",
            [newest],
        ).fetchone()[0]
        written_events = con.execute(
            "select event_type, count(*) from lake.intermediate.int_risk_events_unioned "
            "where _dbt_run_started_at = (select max(_dbt_run_started_at) "
            "from lake.intermediate.int_risk_events_unioned) group by event_type"
        ).fetchall()
        deleted_events = con.execute(
            "select count(*) from lake.intermediate.int_risk_events_unioned "
            "where event_type in ('payment', 'failed_payment') "
            "and order_id in (select unnest($1::bigint[]))",
            [[order_id for (order_id,) in deleted]],
        ).fetchone()[0]
    assert status_moved == rewritten_orders == 50 and refund_deleted == failed == 1
    assert deleted_events == 0  # the deleted payments' events are gone (the post-hook)
    # the new dispute and the failed payment, not the moved orders' events
    assert sorted(written_events) == [("dispute", 1), ("failed_payment", 1)]

    out = dbt_run(warehouse, lake, tmp_path, "--select", "risk_features")
    assert "incremental model lake.marts.risk_features" in out
    with warehouse_and_lake(warehouse, lake) as con:
        con.execute(f"create table incremental as {features}")
        changed = con.execute(
            f"select count(*) from (({features}) except (select * from before_changes))"
        ).fetchone()[0]
        gone = con.execute(
            "select count(*) from (select * from before_changes except " + features + ")"
        ).fetchone()[0]
    # the deleted attempts' rows (customer and merchant) are gone, and the changes reached
    # the later attempts of the same customers and merchants
    assert attempts_deleted > 0 and changed > 0, (attempts_deleted, changed)
    assert gone == changed + 2 * attempts_deleted

    dbt_run(warehouse, lake, tmp_path, "--select", "risk_features", "--full-refresh")
    with warehouse_and_lake(warehouse, lake) as con:
        assert _mismatches(con, features, "select * from incremental") == []
        assert con.execute("select count(*) from incremental").fetchone()[0] > 2000


def test_the_events_of_an_order_gone_upstream_leave_with_it(
    tiny_synced, tiny_duckdb_build, tmp_path
):
    """An order deleted at the source while its payments stay in staging (a CDC source may
    delete the parent row alone): int_orders_enriched drops it, and its events leave
    int_risk_events_unioned, though each of them still has its row in staging (so the
    events' checksum agrees with staging's: the feed's gone orders are what removes them)."""
    warehouse, lake = copy_of_the_build(tiny_synced, tiny_duckdb_build, tmp_path)
    with warehouse_and_lake(warehouse, lake) as con:
        (order_id,) = con.execute(
            "select order_id from staging.stg_shop__payments order by payment_id limit 1"
        ).fetchone()
        con.execute("delete from staging.stg_shop__orders where order_id = $1", [order_id])
    dbt_run(warehouse, lake, tmp_path, "--select", "int_orders_enriched", "int_risk_events_unioned")
    with warehouse_and_lake(warehouse, lake) as con:
        left = [
            con.execute(
                f"select count(*) from lake.intermediate.{model} where order_id = $1", [order_id]
            ).fetchone()[0]
            for model in ("int_orders_enriched", "int_risk_events_unioned")
        ]
        payments = con.execute(
            "select count(*) from staging.stg_shop__payments where order_id = $1", [order_id]
        ).fetchone()[0]
    assert payments > 0 and left == [0, 0], (payments, left)


def test_postgres_computes_the_same_features_as_duckdb(
    tiny_duckdb_build: Path, tiny_postgres_build: PostgresBuild
):
    duckdb_build, postgres_database = tiny_duckdb_build, tiny_postgres_build.dsn
    columns = [
        "entity_type",
        "entity_id",
        "payment_id",
        "cast(as_of_at as varchar)",
        *FEATURES,
        "refund_ratio_30d",
        "dispute_ratio_30d",
        "payment_failure_ratio_30d",
        "is_attempt_burst_1h",
        "is_failure_burst_24h",
        "is_volume_spike_24h",
        "risk_tier",
        "risk_reasons",
    ]
    query = f"select {', '.join(columns)} from marts.risk_features"

    def normalized(rows) -> set[tuple]:
        return {
            tuple(Decimal(str(v)) if isinstance(v, float | Decimal) else v for v in row)
            for row in rows
        }

    on_duckdb = normalized(
        duckdb_layers(duckdb_build, duckdb_build.parent / "lake").execute(query).fetchall()
    )
    on_postgres = normalized(pg(postgres_database, query))
    assert len(on_postgres) == len(on_duckdb) > 2000
    assert on_postgres == on_duckdb
    tiers = {row[-2] for row in on_postgres}
    assert "low" in tiers
