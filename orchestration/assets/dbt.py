"""dbt models as assets: sources map onto the bronze assets, folders onto groups.

Every model, snapshot and test is one dagster-dbt multi-asset (`dbt_models`): a run builds
its selection in one dbt invocation, so dbt starts, reads its manifest and plans once. The
multi-asset can be subset: a run that must leave out the models downstream of a source
whose sync failed selects the others (orchestration/pipeline.py), and dbt skips the nodes
downstream of a failing model or test on its own. Tests run with dbt's `buildable` indirect
selection: a test that reads models of two sources runs only when both are built. Source
tests (not null, accepted values on the raw streams) are asset checks on the bronze assets.

On the postgres target (DBT_TARGET=postgres) dbt reads tables, not the lake: the step first
copies the bronze streams (and `_ops` records) the selected models read into
raw_<connection> (warehouse.postgres_raw), then runs dbt there.
"""

import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from dagster import AssetExecutionContext, AssetKey, AutomationCondition
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from lake import Lake
from orchestration.assets.ingestion import FULL_REFRESH_TAG, bronze_key
from orchestration.dbt_targets import keep_parse_state, new_target
from orchestration.resources import DBT_PROJECT, LakehouseResource
from orchestration.settings import exported
from warehouse.postgres_raw import bronze_streams, load_bronze_to_postgres
from warehouse.postgres_tables import dsn_from_env

T = TypeVar("T")
LAYER_GROUPS = ("staging", "intermediate", "marts")
OPS_SOURCE = "ops"  # the pipeline's own records (_ops), written by every sync and dbt run
WAREHOUSE_POOL = "warehouse"  # one writer per DuckDB file: dbt and its readers take turns
DBT_ASSETS = "dbt_models"
BUILD_NODES = ("model", "snapshot", "seed")


class LakehouseTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            if dbt_resource_props["source_name"] == OPS_SOURCE:
                return AssetKey([OPS_SOURCE, dbt_resource_props["name"]])
            # a dbt source is a bronze stream: same connection name, same stream name
            return bronze_key(dbt_resource_props["source_name"], dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "snapshot":
            return "snapshots"
        fqn = dbt_resource_props.get("fqn", [])
        for layer in LAYER_GROUPS:
            if layer in fqn:
                return layer
        return super().get_group_name(dbt_resource_props)

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> AutomationCondition | None:
        # declarative automation: a model refreshes once its inputs have updated
        return AutomationCondition.eager()


# source tests as checks on the bronze assets they test (dagster-dbt's default logs them as
# observations, with a warning per test and run)
TRANSLATOR = LakehouseTranslator(DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True))


def load_manifest() -> dict[str, Any]:
    return json.loads(DBT_PROJECT.manifest_path.read_text(encoding="utf-8"))


def _parents(manifest: Mapping[str, Any], uid: str) -> list[str]:
    node = manifest["nodes"].get(uid) or manifest["sources"].get(uid) or {}
    return node.get("depends_on", {}).get("nodes", [])


def sources_read(manifest: Mapping[str, Any], keys: Iterable[AssetKey]) -> list[str]:
    """The dbt sources (connections, or `ops`) the models of these asset keys read, and those
    whose own tests (checks on the bronze keys) run with them."""
    uid_of = {
        TRANSLATOR.get_asset_key(node): uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in BUILD_NODES
    }
    sources = {
        manifest["sources"][parent]["source_name"]
        for key in keys
        if key in uid_of
        for parent in _parents(manifest, uid_of[key])
        if parent in manifest["sources"]
    }
    return sorted(sources)


def _dbt_variables(lakehouse: LakehouseResource, lake: Lake) -> dict[str, str]:
    return {
        **lakehouse.settings().dbt_env(lake.uri()),
        # a test runs once all the models it reads are selected: a relationship test between
        # a shop model and a clickstream model is left out when the shop's models are
        "DBT_INDIRECT_SELECTION": "buildable",
        # dagster-dbt reads dbt's events as JSON on stdout; the debug log file (~12,000
        # lines) stays text, as a plain dbt build writes it: JSON cost ~10% of dbt's CPU
        "DBT_LOG_FORMAT_FILE": "text",
    }


def landed_or_required(manifest: Mapping[str, Any], lake: Lake, sources: list[str]) -> list[str]:
    """`sources` less the optional ones with no bronze yet (source meta `optional: true`: the
    streamed events, which a batch-only lake never lands). dbt reads a missing optional
    source as empty (macros/ops_source.sql); a required one missing is the loader's error."""
    optional = {
        source["source_name"]
        for source in manifest["sources"].values()
        if source.get("source_meta", {}).get("optional")
    }
    landed = {source for source, _ in bronze_streams(lake)}
    return [s for s in sources if s not in optional or s in landed]


def load_raw_sources(context: AssetExecutionContext, lake: Lake, sources: list[str]) -> None:
    """On the postgres target dbt's sources are the tables raw_<connection>.<stream> (and
    raw_ops), not the lake: copy what the selected models read from the lake first."""
    if not sources:
        return
    started = time.perf_counter()
    loaded = load_bronze_to_postgres(lake, dsn_from_env(), sources)
    context.log.info(
        "loaded %s into PostgreSQL for dbt (%d tables, %d rows) in %.1f s",
        ", ".join(sources),
        len(loaded),
        sum(loaded.values()),
        time.perf_counter() - started,
    )


# Unit tests check SQL logic on fixed inputs: they run in development and CI (`dbt build` in
# dbt_project/, tests/test_pipeline.py), not on every pipeline run, as dbt recommends. Data
# tests still gate every build.
PIPELINE_BUILD = ("build", "--exclude-resource-type", "unit_test")


def build_dbt_assets() -> list:
    """Every model, snapshot and test in one multi-asset: one dbt invocation per run (dbt
    starts and reads its manifest once), subsettable so a run can leave models out."""
    manifest = load_manifest()

    @dbt_assets(
        manifest=DBT_PROJECT.manifest_path,
        project=DBT_PROJECT,
        name=DBT_ASSETS,
        dagster_dbt_translator=TRANSLATOR,
        pool=WAREHOUSE_POOL,
    )
    def dbt_models(
        context: AssetExecutionContext, dbt: DbtCliResource, lakehouse: LakehouseResource
    ):
        args = list(PIPELINE_BUILD)
        if context.run.tags.get(FULL_REFRESH_TAG) == "true":
            args.append("--full-refresh")
        target = new_target(lakehouse.data_dir, DBT_ASSETS)
        lake = lakehouse.lake()  # also creates the layer folders a local lake needs
        with exported(_dbt_variables(lakehouse, lake)):  # dagster-dbt copies it into dbt's
            if lakehouse.settings().dbt_on_postgres:
                selected = sources_read(manifest, context.selected_asset_keys)
                load_raw_sources(context, lake, landed_or_required(manifest, lake, selected))
            invocation = dbt.cli(args, context=context, raise_on_error=False, target_path=target)
        yield from read_ahead(invocation.stream(), invocation.process)
        keep_parse_state(target)
        summary = summarize_run_results(invocation.get_artifact("run_results.json"))
        summary.update(dagster_run_id=context.run.run_id)
        lake.write_json(lake.path("_ops", "dbt", f"{summary['invocation_id']}.json"), summary)
        context.log.info("dbt build: %s", summary["counts"])
        if not invocation.is_successful():
            raise RuntimeError(f"dbt build failed: {summary['counts']} (see the dbt logs above)")

    return [dbt_models]


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error


_END = object()
DBT_STOP_S = 30  # after SIGINT, before dbt is killed


def read_ahead(events: Iterator[T], process) -> Iterator[T]:
    """dagster-dbt's events, read from dbt's output in a thread as dbt writes them.

    dbt writes its events into a pipe. Read in the step's thread, the next line waits until
    Dagster has recorded the previous event (a few milliseconds each, ~600 per build): the
    pipe fills up and dbt's threads wait on their log writes. Read here, dbt never waits;
    Dagster records what was read, in order, in the step's thread."""
    buffer: queue.SimpleQueue = queue.SimpleQueue()

    def read() -> None:
        try:
            for item in events:
                buffer.put(item)
        except BaseException as error:  # handed to the step's thread, which raises it
            buffer.put(_Raised(error))
        finally:
            buffer.put(_END)

    reader = threading.Thread(target=read, name="dbt-events", daemon=True)
    reader.start()
    finished = False
    try:
        while (item := buffer.get()) is not _END:
            if isinstance(item, _Raised):
                raise item.error
            yield item
        finished = True
    finally:
        if not finished and process.poll() is None:
            # the run was interrupted (or the step failed): stop dbt as dagster-dbt would
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=DBT_STOP_S)
            except subprocess.TimeoutExpired:
                process.kill()
        reader.join()


def summarize_run_results(run_results: Mapping[str, Any]) -> dict[str, Any]:
    """Counts per node type and status, plus the failures, for `_ops` and the demo summary."""
    counts: dict[str, dict[str, int]] = {}
    failures = []
    for result in run_results.get("results", []):
        kind = result["unique_id"].split(".", 1)[0]
        status = result["status"]
        counts.setdefault(kind, {}).setdefault(status, 0)
        counts[kind][status] += 1
        if status in ("error", "fail"):
            failures.append({"node": result["unique_id"], "message": result.get("message")})
    return {
        "invocation_id": run_results.get("metadata", {}).get("invocation_id", "unknown"),
        "generated_at": run_results.get("metadata", {}).get("generated_at"),
        "elapsed_s": run_results.get("elapsed_time"),
        "counts": counts,
        "failures": failures,
    }
