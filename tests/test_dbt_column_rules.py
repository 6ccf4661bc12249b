"""The dbt project's column rules, on a built lake: the marts' not-null columns are contract
constraints the database enforces on write, and every other column rule (not null, not
negative, unique, accepted values, well-formed codes) is checked by one `column_values` test
per model (dbt_project/tests/generic/column_values.sql), which names the column and rule it
finds broken and counts the failing rows."""

from __future__ import annotations

import json
import subprocess

import duckdb
import pytest

from lake import parse_lake_url
from lake.tables.catalog import TableCatalog, connect
from orchestration.settings import DBT_PROJECT_DIR
from tests.dbt_runs import in_the_data_folder
from tests.shared_lake import SharedDemo
from tests.test_pipeline import dbt_env

pytestmark = pytest.mark.integration


def _manifest() -> dict:
    return json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())


def _declared_not_null(node: dict) -> set[str]:
    return {
        name
        for name, column in node["columns"].items()
        if any(c["type"] == "not_null" for c in column.get("constraints", []))
    }


def test_the_marts_not_null_columns_are_enforced_by_the_lake(tmp_path, shared_demo: SharedDemo):
    shared_demo.copy(shared_demo.after_second, tmp_path / "data")
    marts = [
        node
        for node in _manifest()["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["contract"]["enforced"]
    ]
    declared = {node["name"]: _declared_not_null(node) for node in marts}
    assert sum(map(len, declared.values())) >= 200, "the marts declare their not-null columns"
    tables = TableCatalog.beside(parse_lake_url(str(tmp_path / "data" / "lake")))
    with connect(tables) as lake:
        built, schemas = {}, {}
        for name, schema, column in lake.execute(
            "select table_name, table_schema, column_name from information_schema.columns"
            " where table_catalog = 'lake' and is_nullable = 'NO'"
        ).fetchall():
            built.setdefault(name, set()).add(column)
            schemas[name] = schema
        assert {name: built.get(name, set()) for name in declared} == declared
        # a null is refused on write, and the table keeps what it had
        fct_orders = f"lake.{schemas['fct_orders']}.fct_orders"
        before = lake.execute(f"select count(*) from {fct_orders}").fetchone()
        with pytest.raises(duckdb.ConstraintException, match=r"NOT NULL.*customer_id"):
            lake.execute(
                f"insert into {fct_orders}"
                f" select * replace (null as customer_id) from {fct_orders} limit 1"
            )
        assert lake.execute(f"select count(*) from {fct_orders}").fetchone() == before


def test_column_values_names_each_broken_rule_and_counts_its_rows(
    tmp_path, shared_demo: SharedDemo
):
    data_dir = tmp_path / "data"
    shared_demo.copy(shared_demo.after_second, data_dir)
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as warehouse:
        # two orders without a buyer, one with a negative total
        warehouse.execute("""
            update staging.stg_shop__orders set customer_id = null
            where order_id in (select order_id from staging.stg_shop__orders order by 1 limit 2)
        """)
        warehouse.execute("""
            update staging.stg_shop__orders set order_total_cents = -1
            where order_id = (select max(order_id) from staging.stg_shop__orders)
        """)
        # a status the shop does not have, a currency code in lower case, an id twice
        orders = "staging.stg_shop__orders"
        nth = f"(select order_id from {orders} order by 1 limit 1 offset {{}})"
        for change, row in [
            ("order_status = 'lost'", 2),
            ("currency_code = 'usd'", 3),
            (f"order_id = {nth.format(0)}", 4),
        ]:
            warehouse.execute(f"update {orders} set {change} where order_id = {nth.format(row)}")
    target = data_dir / "dbt-target"
    command, env = in_the_data_folder(
        ["test", "--select", "stg_shop__orders,test_name:column_values"], dbt_env(data_dir), target
    )
    dbt = subprocess.run(command, env=env, capture_output=True, text=True)
    assert dbt.returncode == 1, dbt.stdout[-3000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    [result] = [r for r in results if r["unique_id"].startswith("test.")]
    assert (result["status"], result["failures"]) == ("fail", 6), result
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as warehouse:
        broken = warehouse.execute(result["compiled_code"]).fetchall()
    assert sorted(broken) == [
        ("currency_code", "code", 1),
        ("customer_id", "not_null", 2),
        ("order_id", "unique", 1),
        ("order_status", "accepted_values", 1),
        ("order_total_cents", "non_negative", 1),
    ]
