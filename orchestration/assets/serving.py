"""After the marts: gold published to the serving layers, and each Superset dashboard (a dbt
exposure) as an asset downstream of them and of the marts it reads.

The serving layers (orchestration.serving_layers): the read-only DuckDB catalog of views over
gold pinned to the published DuckLake snapshot (serving/duckdb_catalog.py), and PostgreSQL's serving
schema when SERVING_PG_DSN is set (server mode). On the postgres dbt target there is no
DuckLake gold: the serving schema is copied from the marts schema and the DuckDB catalog is
skipped.

Materializing a dashboard does not need Superset: it checks that every mart the dashboard
reads is in the serving layer Superset reads (PostgreSQL when SERVING_PG_DSN is set, else
the DuckDB catalog) and not empty, which is what the dashboard needs to show something.
"""

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import duckdb
import psycopg
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

from common.redaction import redact
from lake.location import parse_lake_url
from lake.storage import Lake
from orchestration.assets.dbt import TRANSLATOR
from orchestration.resources import LakehouseResource
from orchestration.serving_layers import serving_layers
from orchestration.settings import Settings
from serving.duckdb_catalog import SCHEMA, catalog_path, open_served, publish_gold
from serving.postgres_schema import publish_gold_to_postgres

SERVING_GROUP = "serving"
DASHBOARDS_GROUP = "dashboards"
GOLD_CATALOG = AssetKey(["serving", "gold_catalog"])


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


def marts_schema(manifest: Mapping[str, Any]) -> str:
    """The schema dbt builds the marts in on PostgreSQL (the serving schema's source there)."""
    schemas = {
        node["schema"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and "marts" in node["fqn"]
    }
    if len(schemas) != 1:
        raise RuntimeError(f"the marts are expected in one schema, found {sorted(schemas)}")
    return schemas.pop()


def build_finished_at(lake: Lake, run_id: str) -> datetime | None:
    """When this run's dbt build ended (its summary in `_ops/dbt`), so the publish serves
    the snapshot that build left, not a commit of a build started since; None when the run
    built nothing (the latest snapshot is published then)."""
    ends = [
        document["generated_at"]
        for info in lake.list_files(lake.path("_ops", "dbt"), suffix=".json")
        if (document := lake.read_json(info.path)).get("dagster_run_id") == run_id
        and document.get("generated_at")
    ]
    if not ends:
        return None
    return datetime.fromisoformat(max(ends).replace("Z", "+00:00"))


def build_gold_catalog(manifest: Mapping[str, Any]):
    source_schema = marts_schema(manifest)

    @asset(
        key=GOLD_CATALOG,
        deps=mart_keys(manifest),
        group_name=SERVING_GROUP,
        kinds={"duckdb", "postgres"},
        description="Gold published to what Superset reads: the DuckLake snapshot this build "
        "left, recorded and served through a read-only DuckDB catalog of pinned views "
        "(swapped atomically); and PostgreSQL's serving schema when SERVING_PG_DSN is set.",
        automation_condition=AutomationCondition.eager(),
    )
    def gold_catalog(context: AssetExecutionContext, lakehouse: LakehouseResource):
        settings = lakehouse.settings()
        layers = serving_layers(settings, os.environ, source_schema)
        lake = lakehouse.lake()
        metadata: dict[str, Any] = {}
        published: list[str] = []
        models: dict[str, int] = {}
        if layers.duckdb_catalog:
            result = publish_gold(
                lake,
                settings.serving_dir,
                settings.table_catalog(lake.uri()),
                built_at=build_finished_at(lake, context.run.run_id),
            )
            context.log.info(
                "published DuckLake snapshot %d (publication %s): %s",
                result.lake_snapshot,
                result.snapshot_id,
                result.models,
            )
            published.append(f"DuckDB catalog {result.catalog_path}")
            models = result.models
            metadata.update(
                catalog_path=MetadataValue.path(str(result.catalog_path)),
                snapshot_id=result.snapshot_id,
                lake_snapshot_id=result.lake_snapshot,
            )
        else:
            skipped = "skipped: dbt builds on PostgreSQL (DBT_TARGET=postgres), no gold Parquet"
            context.log.info("embedded DuckDB catalog %s", skipped)
            metadata["duckdb_catalog"] = skipped
        if layers.postgres_dsn:
            on_postgres = publish_gold_to_postgres(
                layers.postgres_dsn,
                lake=None if layers.postgres_source_schema else lake,
                tables=None
                if layers.postgres_source_schema
                else settings.table_catalog(lake.uri()),
                source_schema=layers.postgres_source_schema,
            )
            where = f"PostgreSQL {redact(layers.postgres_dsn)} schema {on_postgres.schema}"
            context.log.info(
                "published %d marts from the %s to %s",
                len(on_postgres.models),
                layers.postgres_source,
                where,
            )
            published.append(where)
            models = on_postgres.models
            metadata.update(
                postgres_publication_id=on_postgres.publication_id,
                postgres_source=layers.postgres_source,
            )
        metadata.update(
            published_to=MetadataValue.json(published),
            models=MetadataValue.json(models),
        )
        metadata["dagster/row_count"] = sum(models.values())
        return MaterializeResult(metadata=metadata)

    return gold_catalog


def _own_records_marts(manifest: Mapping[str, Any]) -> set[str]:
    """The marts over the pipeline's own records (models/marts/ops)."""
    return {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1:3] == ["marts", "ops"]
    }


def _exposure_marts(manifest: Mapping[str, Any], exposure: Mapping[str, Any]) -> list[str]:
    return [manifest["nodes"][uid]["name"] for uid in exposure["depends_on"]["nodes"]]


def build_dashboards(manifest: Mapping[str, Any]):
    exposures = {e["name"]: e for e in manifest.get("exposures", {}).values()}
    if not exposures:
        return None
    own = _own_records_marts(manifest)
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
        settings = lakehouse.settings()
        publisher = (os.environ.get("SERVING_PG_DSN") or "").strip()
        with _serving_rows(settings, publisher) as (where, rows_of):
            for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
                marts = _exposure_marts(manifest, exposures[key.path[-1]])
                rows = {m: rows_of(m) for m in marts}
                # a mart of the pipeline's own records (marts/ops) is empty until a first
                # build has finished (dbt_build_results): it must be there, not full
                empty = [m for m, n in rows.items() if not n and (n is None or m not in own)]
                if empty:
                    raise RuntimeError(
                        f"{key.to_user_string()} reads marts that are missing or empty in "
                        f"the serving layer ({where}): {', '.join(empty)}"
                    )
                yield MaterializeResult(
                    asset_key=key,
                    metadata={"rows_per_mart": MetadataValue.json(rows), "serving": where},
                )

    return dashboards


@contextmanager
def _serving_rows(
    settings: Settings, publisher: str
) -> Iterator[tuple[str, Callable[[str], int | None]]]:
    """Where Superset reads (PostgreSQL when SERVING_PG_DSN is set, else the DuckDB
    catalog), and a function giving a mart's rows there (None when it is missing)."""
    if publisher:
        with psycopg.connect(publisher, autocommit=True) as conn:

            def postgres_rows(mart: str) -> int | None:
                relation = f'{SCHEMA}."{mart}"'
                (exists,) = conn.execute("select to_regclass(%s)", (relation,)).fetchone()
                if exists is None:
                    return None
                return conn.execute(f"select count(*) from {relation}").fetchone()[0]

            yield f"PostgreSQL {redact(publisher)} schema {SCHEMA}", postgres_rows
        return
    catalog = catalog_path(settings.serving_dir)
    if not catalog.exists():
        raise RuntimeError(f"no serving catalog at {catalog}: materialize {GOLD_CATALOG}")
    # the views read the lake's DuckLake: its secrets (catalog password, S3 keys) from here
    tables = settings.table_catalog(parse_lake_url(settings.lake_url).uri())
    with open_served(catalog, tables) as con:
        yield f"DuckDB catalog {catalog}", lambda mart: _duckdb_rows(con, mart)


def _duckdb_rows(con: duckdb.DuckDBPyConnection, mart: str) -> int | None:
    try:
        return con.execute(f'select count(*) from {SCHEMA}."{mart}"').fetchone()[0]
    except duckdb.CatalogException:
        return None


def build_serving_assets(manifest: Mapping[str, Any]) -> list:
    dashboards = build_dashboards(manifest)
    return [build_gold_catalog(manifest), *([dashboards] if dashboards else [])]
