"""How the data tests of a `dbt build` read less than whole tables and still catch what they
exist for, on copies of the session's tiny build (tests/tiny_build.py):

- the finance reconciliations compare order by order only when a checksum differs
  (macros/key_fingerprints.sql): on the build as it is, every checksum agrees and the
  per-order comparison is skipped, on each engine; when amounts move between two orders, so
  that every whole-table total still agrees, the checksums differ and the tests fail naming
  what broke, as the per-order comparison always did;
- an incremental build tests only the rows it wrote (macros/loaded_rows.sql), yet a value
  unique beyond the merge key that repeats an older row's is caught.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lake import parse_lake_url
from lake.tables.catalog import TableCatalog, connect
from tests.dbt_runs import dbt_on
from tests.test_dbt_postgres import DBT_DIR, TINY_BUILD, pg, pg_env
from tests.tiny_build import copy_of_the_build, dbt_run, warehouse_and_lake

if TYPE_CHECKING:
    from tests.tiny_build import PostgresBuild

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(TINY_BUILD)]

RECONCILIATIONS = [
    "assert_finance_fct_orders_matches_staging",
    "assert_finance_items_and_refunds_reconcile",
]
AGREE = "every checksum agrees"  # the comment of the branch that skips the comparison

# Two orders of one fct_orders (the first and the last with more than one unit): a unit and
# a cent of their lines' reporting totals move from one to the other. Every total over the
# whole table stays the same; only a comparison order by order can tell.
TWO_ORDERS = """
    select min(order_id), max(order_id) from {fct_orders} where units > 1
"""
MOVES = [
    "update {fct_orders} set units = units - 1 where order_id = {a}",
    "update {fct_orders} set units = units + 1 where order_id = {b}",
    """update {fct_order_items} set line_total_reporting = line_total_reporting - 0.01
       where order_item_id = (select min(order_item_id) from {fct_order_items}
                              where order_id = {a})""",
    """update {fct_order_items} set line_total_reporting = line_total_reporting + 0.01
       where order_item_id = (select min(order_item_id) from {fct_order_items}
                              where order_id = {b})""",
]


def _compiled(target: Path, test: str) -> str:
    """The SQL dbt ran for a data test (a generic test's sits under its model's yml)."""
    (path,) = (target / "compiled" / "lakehouse").rglob(f"{test}.sql")
    return path.read_text()


def _failures(target: Path) -> dict[str, int]:
    """Each reconciliation test's failing rows in the last run, from run_results.json."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {
        r["unique_id"].split(".")[2]: r["failures"]
        for r in results
        if r["unique_id"].split(".")[2] in RECONCILIATIONS
    }


def test_the_reconciliations_skip_the_per_order_comparison_only_while_checksums_agree_duckdb(
    tiny_synced, tiny_duckdb_build, tmp_path
):
    warehouse, lake = copy_of_the_build(tiny_synced, tiny_duckdb_build, tmp_path)
    target = tmp_path / "target"
    dbt_run(warehouse, lake, tmp_path, "--select", *RECONCILIATIONS, verb="test")
    assert _failures(target) == dict.fromkeys(RECONCILIATIONS, 0)
    for test in RECONCILIATIONS:
        assert AGREE in _compiled(target, test), test

    con = connect(TableCatalog.beside(parse_lake_url(str(lake))))
    names = {"fct_orders": "lake.marts.fct_orders", "fct_order_items": "lake.marts.fct_order_items"}
    a, b = con.execute(TWO_ORDERS.format(**names)).fetchone()
    totals = "select sum(units), sum(order_total_reporting) from lake.marts.fct_orders"
    lines = "select sum(line_total_reporting) from lake.marts.fct_order_items"
    before = con.execute(totals).fetchone(), con.execute(lines).fetchone()
    for statement in MOVES:
        con.execute(statement.format(a=a, b=b, **names))
    assert (con.execute(totals).fetchone(), con.execute(lines).fetchone()) == before
    con.close()

    dbt_run(warehouse, lake, tmp_path, "--select", *RECONCILIATIONS, verb="test", green=False)
    # two orders differ from staging; one rule broken (by two orders), among the per-order ones
    assert _failures(target) == {
        "assert_finance_fct_orders_matches_staging": 2,
        "assert_finance_items_and_refunds_reconcile": 1,
    }
    for test in RECONCILIATIONS:
        assert AGREE not in _compiled(target, test), test
    with warehouse_and_lake(warehouse, lake) as check:
        differing = check.execute(
            _compiled(target, "assert_finance_fct_orders_matches_staging")
        ).fetchall()
        broken = check.execute(
            _compiled(target, "assert_finance_items_and_refunds_reconcile")
        ).fetchall()
    assert sorted(differing) == [(a, False, False), (b, False, False)]
    assert broken == [("order_total_reporting or refunded_reporting != sum of its lines", 2)]


def test_the_reconciliations_skip_the_per_order_comparison_only_while_checksums_agree_postgres(
    tiny_synced, tiny_postgres_build: PostgresBuild, postgres_server, tmp_path
):
    built = tiny_synced / "postgres" / "target-postgres"  # the session build ran them green
    for test in RECONCILIATIONS:
        assert AGREE in _compiled(built, test), test

    database = "t_reconciliation_checksums"
    pg(postgres_server.dsn(), f'drop database if exists "{database}"')
    template = tiny_postgres_build.dsn.rsplit("/", 1)[-1]
    pg(postgres_server.dsn(), f'create database "{database}" template "{template}"')
    dsn = postgres_server.dsn(database)
    names = {"fct_orders": "marts.fct_orders", "fct_order_items": "marts.fct_order_items"}
    ((a, b),) = pg(dsn, TWO_ORDERS.format(**names))
    for statement in MOVES:
        pg(dsn, statement.format(a=a, b=b, **names))

    target = tmp_path / "target-postgres"
    command, env = dbt_on("postgres", ["test", "--select", *RECONCILIATIONS], pg_env(dsn), target)
    result = subprocess.run(
        command, cwd=DBT_DIR, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert _failures(target) == {
        "assert_finance_fct_orders_matches_staging": 2,
        "assert_finance_items_and_refunds_reconcile": 1,
    }
    differing = pg(dsn, _compiled(target, "assert_finance_fct_orders_matches_staging"))
    assert sorted(differing) == [(a, False, False), (b, False, False)]


def test_a_value_unique_beyond_the_key_is_checked_against_older_rows(
    tiny_synced, tiny_duckdb_build, tmp_path
):
    """fct_payments is merged by order; its payment ids must be unique over the table."""
    warehouse, lake = copy_of_the_build(tiny_synced, tiny_duckdb_build, tmp_path)
    with warehouse_and_lake(warehouse, lake) as con:
        changed, payment, other = con.execute(
            "select payments.order_id, payments.payment_id, (select max(order_id) "
            "from lake.marts.fct_orders where order_id != payments.order_id) "
            "from lake.marts.fct_payments as payments "
            "join staging.stg_shop__orders as orders using (order_id) "
            "where orders.order_status = 'shipped' order by payments.payment_id limit 1"
        ).fetchone()
        newest = con.execute("select max(updated_at) from staging.stg_shop__orders").fetchone()[0]
        # the order ships on: the build rewrites it, its payment with it
        con.execute(
            "update staging.stg_shop__orders set order_status = 'delivered', "
            "updated_at = $1 + interval 1 hour where order_id = $2",
            [newest, changed],
        )
    # an older row of another order, which the build does not rewrite, has the same payment id
    with connect(TableCatalog.beside(parse_lake_url(str(lake)))) as con:
        con.execute(
            "insert into lake.marts.fct_payments select * replace ($1 as order_id) "
            "from lake.marts.fct_payments where payment_id = $2",
            [other, payment],
        )

    out = dbt_run(
        warehouse,
        lake,
        tmp_path,
        "--select",
        "int_orders_enriched",
        "fct_payments",
        verb="build",
        green=False,
    )
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    status = {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in results}
    assert status["fct_payments"][0] == "success", out[-3000:]
    # the test read only the rows this build wrote, the changed order's among them ...
    compiled = _compiled(tmp_path / "target", "column_values_fct_payments")
    assert "_dbt_invocation_id = '" in compiled
    # ... and counted the payment id's rows in the whole table: the older one repeats it
    assert status["column_values_fct_payments"] == ("fail", 1), out[-3000:]
