"""`lakehouse demo`: generate the sources if needed, run every asset in-process, report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from dagster import AssetSelection, materialize

from datagen.changes import apply_changes
from datagen.generate import GenerationRequest, already_generated, generate
from lake import open_lake
from lake.postgres_tables import dsn_from_env
from orchestration.assets.dbt import combine_summaries
from orchestration.assets.ingestion import BRONZE_GROUP
from orchestration.assets.serving import DASHBOARDS_GROUP, SERVING_GROUP
from orchestration.code_location import build_definitions
from orchestration.crm_service import crm_api_running
from orchestration.doctor import redact
from orchestration.instance import persistent_instance
from orchestration.settings import Settings
from orchestration.summary import DemoReport, count_dlq_rows, count_layer_rows, print_report

T = TypeVar("T")
CHANGE_FRACTION = 0.01  # of the orders, on each demo run after the first

EXPLORE = """
Explore:
  make ui      the Dagster UI (the asset graph from bronze streams to dashboards) and Superset
  make bi      Superset alone: the dashboards over the published gold
  make docs    dbt docs: models, tests and lineage
  cd dbt_project && uv run dbt build     rebuild silver/gold with the profile in the repo
  lake:        {lake}
  warehouse:   {duckdb}
"""


def _timed(report: DemoReport, stage: str, fn: Callable[[], T]) -> T:
    started = time.perf_counter()
    try:
        return fn()
    finally:
        report.stages.append((stage, time.perf_counter() - started))


def run_demo(
    settings: Settings, regenerate: bool = False, quiet: bool = False, log_level: str = "WARNING"
) -> DemoReport:
    report = DemoReport()
    request = GenerationRequest(
        settings.scale, settings.seed, settings.oltp_dsn, settings.landing_url
    )
    if regenerate or not already_generated(request):
        _timed(report, f"generate sources (scale {settings.scale:g})", lambda: generate(request))
    else:
        # the sources are there from an earlier run: change them, so the incremental syncs
        # (and CDC on PostgreSQL) have new, updated and deleted rows to catch
        deletes = settings.oltp_dsn.startswith("postgres")
        changes = _timed(
            report,
            "apply a change set to the shop",
            lambda: apply_changes(settings.oltp_dsn, CHANGE_FRACTION, settings.seed, deletes),
        )
        report.changes = (
            f"{changes.inserted:,} orders inserted, {changes.updated:,} updated, "
            f"{changes.deleted:,} deleted"
        )

    lake = open_lake(settings.lake_url)
    with crm_api_running(settings.scale, settings.seed):
        _run_assets(report, settings, log_level)
    # on the postgres target dbt's layers are tables in the DBT_PG_* database, not the lake
    warehouse_dsn = dsn_from_env() if settings.dbt_on_postgres else None
    report.layers = count_layer_rows(lake, str(settings.duckdb_path), warehouse_dsn)
    report.dlq_rows = count_dlq_rows(lake)
    report.dbt = latest_dbt_summary(lake)
    if not quiet:
        print_report(report)
        warehouse = redact(warehouse_dsn) if warehouse_dsn else settings.duckdb_path
        print(EXPLORE.format(lake=lake.uri(), duckdb=warehouse))
    return report


def _run_assets(report: DemoReport, settings: Settings, log_level: str) -> None:
    defs = build_definitions(settings)
    assets = list(defs.assets or [])
    resources = defs.resources or {}
    instance = persistent_instance(settings)  # what `make ui` shows

    # Dagster's console logger is chatty at DEBUG; the summary is what the demo is for
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}

    def run(selection: AssetSelection):
        return materialize(
            assets,
            selection=selection,
            resources=resources,
            instance=instance,
            run_config=run_config,
        )

    _timed(report, "ingest to bronze", lambda: run(AssetSelection.groups(BRONZE_GROUP)))
    published = AssetSelection.groups(SERVING_GROUP, DASHBOARDS_GROUP)
    _timed(
        report,
        "dbt build (silver, gold, tests)",
        lambda: run(AssetSelection.all() - AssetSelection.groups(BRONZE_GROUP) - published),
    )
    # dashboards read an immutable snapshot of gold, never the files dbt rewrites
    _timed(report, "publish gold to serving, check dashboards", lambda: run(published))


def latest_dbt_summary(lake) -> dict:
    runs = lake.list_files(lake.path("_ops", "dbt"), suffix=".json")
    if not runs:
        return {}
    documents = [lake.read_json(r.path) for r in runs]
    latest = max(documents, key=lambda d: d.get("generated_at") or "")
    # dbt runs as several steps (one per set of sources): add up those of the latest run
    run_id = latest.get("dagster_run_id")
    if run_id is None:
        return latest
    return combine_summaries([d for d in documents if d.get("dagster_run_id") == run_id])


def settings_with(settings: Settings, **overrides) -> Settings:
    return replace(settings, **{k: v for k, v in overrides.items() if v is not None})
