"""`lakehouse demo`: generate the sources if needed, run every asset in-process, report.

Quiet by default: one progress line per stage and the summary. Everything else (Dagster's
and dbt's logs, warnings) goes to a log file under DATA_DIR/logs, whose path it prints;
`verbose` shows it all on the terminal instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from dagster import DagsterInstance
from rich.console import Console

from common.redaction import redact
from datagen.changes import apply_changes
from datagen.generate import GenerationRequest, already_generated, generate
from lake import Lake, open_lake
from orchestration.code_location import build_definitions
from orchestration.crm_service import crm_api_running
from orchestration.instance import persistent_instance
from orchestration.output_capture import captured_output
from orchestration.pipeline import PipelineOutcome, run_pipeline
from orchestration.settings import Settings
from orchestration.summary import DemoReport, count_dlq_rows, count_layer_rows, print_report
from orchestration.warehouse_check import check_warehouse
from warehouse.postgres_tables import dsn_from_env

T = TypeVar("T")
CHANGE_FRACTION = 0.01  # of the orders, on each demo run after the first
LOGS_FOLDER = "logs"
# every line of Dagster's (steps, materializations, checks, the dbt command) goes to the log
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}

EXPLORE = """
Explore:
  make ui      the Dagster UI (the asset graph from bronze streams to dashboards) and Superset
  make bi      Superset alone: the dashboards over the published gold
  make docs    dbt docs: models, tests and lineage
  cd dbt_project && ../.venv/bin/dbt build   rebuild silver/gold with the profile in the repo
  lake:        {lake}
  warehouse:   {duckdb}
"""


def demo_log_path(settings: Settings) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return settings.data_dir / LOGS_FOLDER / f"demo-{stamp}.log"


def demo_report_path(log_path: Path) -> Path:
    """Where a run's summary is kept as JSON (stages, rows per layer, dbt's counts): beside
    its log, for scripts and CI that check a demo without parsing the console."""
    return log_path.with_suffix(".json")


class _Stages:
    """Times each stage into the report and shows it as one line (a spinner while it runs)."""

    def __init__(self, report: DemoReport, console: Console, show: bool):
        self.report, self.console, self.show = report, console, show

    def __call__(self, name: str, fn: Callable[[], T]) -> T:
        started = time.perf_counter()
        status = self.console.status(name + " ...") if self.show else nullcontext()
        try:
            with status:
                return fn()
        finally:
            seconds = time.perf_counter() - started
            self.report.stages.append((name, seconds))
            if self.show:
                self.console.print(f"[green]✓[/green] {name} [dim]{seconds:.1f} s[/dim]")


def run_demo(
    settings: Settings,
    regenerate: bool = False,
    quiet: bool = False,
    verbose: bool = False,
    instance: DagsterInstance | None = None,
) -> DemoReport:
    """Run the demo; `quiet` prints nothing (tests), `verbose` prints every log line."""
    log_path = demo_log_path(settings)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if not quiet and not verbose:
        Console().print(f"full logs: {log_path}", soft_wrap=True)
    output = nullcontext(Console()) if verbose else captured_output(log_path)
    with output as console:
        report = _run(settings, regenerate, instance, _Stages(DemoReport(), console, not quiet))
    report.log_path = None if verbose else log_path
    demo_report_path(log_path).write_text(report.to_json(), encoding="utf-8")
    if not quiet:
        console = Console()
        print_report(report, console)
        warehouse = redact(dsn_from_env()) if settings.dbt_on_postgres else settings.duckdb_path
        # unwrapped: a narrow terminal or a pipe (80 columns to rich) breaks no command
        console.print(
            EXPLORE.format(lake=settings.lake_url, duckdb=warehouse),
            highlight=False,
            soft_wrap=True,
        )
    return report


def _run(
    settings: Settings, regenerate: bool, instance: DagsterInstance | None, stage: _Stages
) -> DemoReport:
    report = stage.report
    # the lake and the warehouse must be usable before any source changes: a run that stops
    # after the change set would leave changes no sync has seen described as "applied"
    lake = open_lake(settings.lake_url)
    check_warehouse(settings)
    request = GenerationRequest(
        settings.scale, settings.seed, settings.oltp_dsn, settings.landing_url
    )
    if regenerate or not already_generated(request):
        stage(f"generate sources (scale {settings.scale:g})", lambda: generate(request))
    else:
        # the sources are there from an earlier run: change them, so the incremental syncs
        # (and CDC on PostgreSQL) have new, updated and deleted rows to catch
        # deletes too: CDC sees them on PostgreSQL, the key reconciliation pass on SQLite
        changes = stage(
            "apply a change set to the shop",
            lambda: apply_changes(settings.oltp_dsn, CHANGE_FRACTION, settings.seed),
        )
        report.changes = (
            f"{changes.inserted:,} orders inserted, {changes.updated:,} updated, "
            f"{changes.deleted:,} deleted"
        )

    defs = stage("load the definitions", lambda: build_definitions(settings))
    if instance is None:
        instance = persistent_instance(settings)  # what `make ui` shows
    with crm_api_running(settings.scale, settings.seed):
        outcome = run_pipeline(defs, instance, RUN_CONFIG, stage)
    report.failed_steps = outcome.failed_steps
    report.left_out = _left_out(outcome)
    # on the postgres target dbt's layers are tables in the DBT_PG_* database, not the lake
    warehouse_dsn = dsn_from_env() if settings.dbt_on_postgres else None

    def count() -> None:
        report.layers = count_layer_rows(
            lake, str(settings.duckdb_path), warehouse_dsn, settings.table_catalog(lake.uri())
        )
        report.dlq_rows = count_dlq_rows(lake)
        report.dbt = latest_dbt_summary(lake)

    stage("count the rows per layer", count)
    return report


def _left_out(outcome: PipelineOutcome) -> list[str]:
    return sorted(k.to_user_string() for k in outcome.left_out)


def latest_dbt_summary(lake: Lake) -> dict:
    """The summary the last dbt build wrote to `_ops/dbt` (one invocation per run)."""
    runs = lake.list_files(lake.path("_ops", "dbt"), suffix=".json")
    if not runs:
        return {}
    documents = [lake.read_json(r.path) for r in runs]
    return max(documents, key=lambda d: d.get("generated_at") or "")


def settings_with(settings: Settings, **overrides) -> Settings:
    return replace(settings, **{k: v for k, v in overrides.items() if v is not None})
