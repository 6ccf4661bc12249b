"""Build the Dagster definitions: bronze assets from the connections file, then dbt."""

from __future__ import annotations

from dagster import Definitions

from ingestion.connections import load_connections
from orchestration.assets.dbt import build_dbt_assets
from orchestration.assets.ingestion import build_ingestion_assets
from orchestration.resources import LakehouseResource, dbt_resource, ensure_dbt_manifest
from orchestration.settings import Settings


def build_definitions(settings: Settings | None = None) -> Definitions:
    settings = settings or Settings.from_env()
    ensure_dbt_manifest()
    connections = load_connections(settings.connections_file, settings.interpolation_env())
    return Definitions(
        assets=[*build_ingestion_assets(connections), build_dbt_assets()],
        resources={"lakehouse": LakehouseResource.from_settings(settings), "dbt": dbt_resource()},
    )
