"""Build the Dagster definitions: bronze assets from the connections file, dbt, serving and
dashboards, their checks, schedules and sensors, and the resources they share."""

from __future__ import annotations

from dagster import Definitions

from ingestion.connections import load_connections
from orchestration import checks, schedules, sensors
from orchestration.assets.airbyte_managed import build_airbyte_managed_assets, without_managed
from orchestration.assets.dbt import build_dbt_assets, load_manifest
from orchestration.assets.ingestion import build_ingestion_assets
from orchestration.assets.serving import build_serving_assets
from orchestration.resources import LakehouseResource, dbt_resource, ensure_dbt_manifest
from orchestration.settings import Settings


def build_definitions(settings: Settings | None = None) -> Definitions:
    settings = settings or Settings.from_env()
    ensure_dbt_manifest(settings)
    manifest = load_manifest()
    connections = load_connections(settings.connections_file, settings.interpolation_env())
    freshness = checks.build_freshness_checks(connections)
    return Definitions(
        assets=[
            *build_ingestion_assets(without_managed(connections)),
            *build_airbyte_managed_assets(connections),
            *build_dbt_assets(),
            *build_serving_assets(manifest),
        ],
        asset_checks=[*freshness, *checks.build_reconciliation_checks(manifest, connections)],
        schedules=schedules.build_schedules(connections),
        sensors=sensors.build_sensors(connections, freshness),
        resources={"lakehouse": LakehouseResource.from_settings(settings), "dbt": dbt_resource()},
    )
