"""After the marts: gold published to the read-only serving catalog, and each Superset
dashboard (a dbt exposure) as an asset downstream of it and of the marts it reads.

Materializing a dashboard does not need Superset: it checks that every mart the
dashboard reads is in the published catalog and not empty, which is what the dashboard
needs to show something.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import duckdb
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from orchestration.assets.dbt import TRANSLATOR
from orchestration.resources import LakehouseResource

SERVING_GROUP = "serving"
DASHBOARDS_GROUP = "dashboards"
GOLD_CATALOG = AssetKey(["serving", "gold_catalog"])
SCHEMA = "analytics"  # the schema of the serving catalog (lake/serving.py)


def dashboard_key(exposure: str) -> AssetKey:
    return AssetKey(["dashboards", exposure])


def mart_keys(manifest: Mapping[str, Any]) -> list[AssetKey]:
    return sorted(
        (
            TRANSLATOR.get_asset_key(node)
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and "marts" in node["fqn"]
        ),
        key=lambda k: k.to_user_string(),
    )


def build_gold_catalog(manifest: Mapping[str, Any]):
    @asset(
        key=GOLD_CATALOG,
        deps=mart_keys(manifest),
        group_name=SERVING_GROUP,
        kinds={"duckdb"},
        description="Gold frozen into a snapshot and served by a read-only DuckDB catalog "
        "(what Superset reads), swapped atomically after each publish.",
        automation_condition=AutomationCondition.eager(),
    )
    def gold_catalog(context: AssetExecutionContext, lakehouse: LakehouseResource):
        from lake.serving import publish_gold  # the serving layer's own module

        result = publish_gold(lakehouse.lake(), lakehouse.settings().serving_dir)
        context.log.info("published snapshot %s: %s", result.snapshot_id, result.models)
        return MaterializeResult(
            metadata={
                "catalog_path": MetadataValue.path(str(result.catalog_path)),
                "snapshot_id": result.snapshot_id,
                "dagster/row_count": sum(result.models.values()),
                "models": MetadataValue.json(result.models),
            }
        )

    return gold_catalog


def _exposure_marts(manifest: Mapping[str, Any], exposure: Mapping[str, Any]) -> list[str]:
    return [manifest["nodes"][uid]["name"] for uid in exposure["depends_on"]["nodes"]]


def build_dashboards(manifest: Mapping[str, Any]):
    exposures = {e["name"]: e for e in manifest.get("exposures", {}).values()}
    if not exposures:
        return None
    specs = [
        AssetSpec(
            key=dashboard_key(name),
            deps=[
                GOLD_CATALOG,
                *(TRANSLATOR.get_asset_key(manifest["nodes"][u]) for u in e["depends_on"]["nodes"]),
            ],
            group_name=DASHBOARDS_GROUP,
            kinds={"superset"},
            description=e.get("description") or e.get("label") or name,
            metadata={"url": MetadataValue.url(e["url"])} if e.get("url") else {},
            automation_condition=AutomationCondition.eager(),
            skippable=True,
        )
        for name, e in sorted(exposures.items())
    ]

    @multi_asset(name="dashboards", specs=specs, can_subset=True)
    def dashboards(context: AssetExecutionContext, lakehouse: LakehouseResource) -> Iterator:
        from lake.serving import catalog_path

        catalog = catalog_path(lakehouse.settings().serving_dir)
        if not catalog.exists():
            raise RuntimeError(f"no serving catalog at {catalog}: materialize {GOLD_CATALOG}")
        with duckdb.connect(str(catalog), read_only=True) as con:
            for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
                marts = _exposure_marts(manifest, exposures[key.path[-1]])
                rows = {m: _rows(con, m) for m in marts}
                empty = [m for m, n in rows.items() if not n]
                if empty:
                    raise RuntimeError(
                        f"{key.to_user_string()} reads marts that are missing or empty in "
                        f"the serving catalog: {', '.join(empty)}"
                    )
                yield MaterializeResult(
                    asset_key=key, metadata={"rows_per_mart": MetadataValue.json(rows)}
                )

    return dashboards


def _rows(con: duckdb.DuckDBPyConnection, mart: str) -> int:
    try:
        return con.execute(f'select count(*) from {SCHEMA}."{mart}"').fetchone()[0]
    except duckdb.CatalogException:
        return 0


def build_serving_assets(manifest: Mapping[str, Any]) -> list:
    dashboards = build_dashboards(manifest)
    return [build_gold_catalog(manifest), *([dashboards] if dashboards else [])]
