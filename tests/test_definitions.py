"""The Dagster code location: loads, and the graph runs from bronze streams into dbt."""

from __future__ import annotations

from dagster import AssetKey

from orchestration.code_location import build_definitions
from orchestration.settings import Settings


def test_definitions_load_and_dbt_sources_hang_off_bronze_assets(tmp_path):
    defs = build_definitions(Settings.from_env({"DATA_DIR": str(tmp_path)}))
    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    assert AssetKey(["bronze", "shop", "orders"]) in keys
    assert AssetKey(["bronze", "clickstream", "events"]) in keys
    assert graph.get(AssetKey(["staging", "stg_shop__orders"])).parent_keys == {
        AssetKey(["bronze", "shop", "orders"])
    }
    assert (
        AssetKey(["intermediate", "int_orders_enriched"])
        in graph.get(AssetKey(["marts", "fct_orders"])).parent_keys
    )
    groups = {graph.get(k).group_name for k in keys}
    assert {"bronze", "staging", "intermediate", "marts"} <= groups
    # dbt tests surface as asset checks
    assert any(check.name.startswith("unique_") for check in graph.asset_check_keys)


def test_the_graph_reads_source_to_bronze_to_marts_to_serving_to_dashboards(tmp_path):
    from dagster import Definitions

    defs = build_definitions(Settings.from_env({"DATA_DIR": str(tmp_path)}))
    Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    serving = AssetKey(["serving", "gold_catalog"])
    revenue = AssetKey(["dashboards", "revenue_dashboard"])
    assert AssetKey(["marts", "daily_revenue"]) in graph.get(serving).parent_keys
    assert {serving, AssetKey(["marts", "daily_revenue"])} <= graph.get(revenue).parent_keys
    assert {graph.get(revenue).group_name, graph.get(serving).group_name} == {
        "dashboards",
        "serving",
    }
    # every bronze stream reaches a dashboard (the CRM feeds staging only, no mart yet)
    dashboards = {k for k in graph.get_all_asset_keys() if k.path[0] == "dashboards"}
    assert len(dashboards) == 5
    upstream_of_dashboards = set()
    for key in dashboards:
        upstream_of_dashboards |= _ancestors(graph, key)
    bronze = {k for k in graph.get_all_asset_keys() if k.path[:2] not in (["bronze", "crm"],)}
    bronze = {k for k in bronze if k.path[0] == "bronze"}
    assert bronze <= upstream_of_dashboards
    # the bronze materializations carry the sync's figures and checks
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    for name in ("sync_reconciled", "volume_anomaly"):
        assert ("bronze/shop/orders", name) in checks
    assert ("staging/stg_shop__orders", "reconciled_with_bronze") in checks


def _ancestors(graph, key):
    seen, todo = set(), [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen
