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
