"""dbt models as assets: sources map onto the bronze assets, folders onto groups.

The models are split into one dbt step per set of connections they read (`dbt_shop`,
`dbt_fx_shop`, `dbt_clickstream`...). A run of everything then behaves as users expect
when a source fails: only the steps downstream of that source are skipped, every other
model still builds. The steps share the DuckDB file, so they take turns (the
`warehouse` pool). Tests run with dbt's `buildable` indirect selection: each test runs
once, in the step that builds the last of its parents. The few tests that compare
models of unrelated steps (a clickstream customer must exist in the shop) run in one
check step after both (`dbt_cross_source_tests`).

On the postgres target (DBT_TARGET=postgres) dbt reads tables, not the lake: each step first
copies the bronze streams (and `_ops` records) its models read into raw_<connection>
(lake.postgres_raw), then runs dbt there.
"""

import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AutomationCondition,
    multi_asset_check,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from lake import Lake
from lake.postgres_raw import load_bronze_to_postgres
from lake.postgres_tables import dsn_from_env
from orchestration.assets.ingestion import FULL_REFRESH_TAG, bronze_key
from orchestration.dbt_targets import keep_parse_state, new_target
from orchestration.resources import DBT_PROJECT, LakehouseResource

LAYER_GROUPS = ("staging", "intermediate", "marts")
OPS_SOURCE = "ops"  # the pipeline's own records (_ops), written by every sync and dbt run
WAREHOUSE_POOL = "warehouse"  # one writer per DuckDB file: dbt steps take turns
CROSS_SOURCE_TESTS = "dbt_cross_source_tests"
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


TRANSLATOR = LakehouseTranslator()


@dataclass(frozen=True)
class DbtStep:
    """The dbt nodes one step builds: every model that reads exactly these connections."""

    name: str
    connections: frozenset[str]
    nodes: tuple[str, ...]  # unique ids

    def select(self, manifest: Mapping[str, Any]) -> str:
        names = [manifest["nodes"][uid]["name"] for uid in self.nodes]
        # the sources a step alone reads carry their own tests (not null, accepted values)
        sources = [f"source:{c}" for c in sorted(self.connections) if len(self.connections) == 1]
        return " ".join([*sorted(names), *sources])

    def sources_read(self, manifest: Mapping[str, Any]) -> list[str]:
        """The dbt sources (connections, or `ops`) this step's nodes read themselves, and
        those whose tests it runs; a step over other steps' models (fx + shop) reads none."""
        direct = {
            manifest["sources"][parent]["source_name"]
            for uid in self.nodes
            for parent in _parents(manifest, uid)
            if parent in manifest["sources"]
        }
        tested = self.connections if len(self.connections) == 1 else frozenset()
        return sorted(direct | tested)


def load_manifest() -> dict[str, Any]:
    return json.loads(DBT_PROJECT.manifest_path.read_text(encoding="utf-8"))


def _parents(manifest: Mapping[str, Any], uid: str) -> list[str]:
    node = manifest["nodes"].get(uid) or manifest["sources"].get(uid) or {}
    return node.get("depends_on", {}).get("nodes", [])


def plan_steps(manifest: Mapping[str, Any]) -> list[DbtStep]:
    """Group the buildable nodes by the set of sources upstream of them."""
    upstream: dict[str, frozenset[str]] = {}

    def connections_of(uid: str) -> frozenset[str]:
        if uid not in upstream:
            if uid in manifest["sources"]:
                upstream[uid] = frozenset([manifest["sources"][uid]["source_name"]])
            else:
                found: frozenset[str] = frozenset()
                for parent in _parents(manifest, uid):
                    found |= connections_of(parent)
                upstream[uid] = found
        return upstream[uid]

    groups: dict[frozenset[str], list[str]] = {}
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] in BUILD_NODES:
            groups.setdefault(connections_of(uid), []).append(uid)
    # models that read no source at all (a date spine) need no step of their own: they
    # join the ops models, which no connection's failure can block either
    ops = frozenset([OPS_SOURCE])
    if frozenset() in groups and ops in groups:
        groups[ops] += groups.pop(frozenset())
    return [
        DbtStep("dbt_" + ("_".join(sorted(conns)) or "no_source"), conns, tuple(sorted(nodes)))
        for conns, nodes in sorted(groups.items(), key=lambda kv: sorted(kv[0]))
    ]


def cross_step_tests(manifest: Mapping[str, Any], steps: list[DbtStep]) -> list[str]:
    """Tests that no single step can run: their parents are built by unrelated steps."""
    step_of = {uid: step for step in steps for uid in step.nodes}
    ancestors: dict[str, set[str]] = {}

    def ancestors_of(uid: str) -> set[str]:
        if uid not in ancestors:
            found: set[str] = set()
            for parent in _parents(manifest, uid):
                found |= {parent, *ancestors_of(parent)}
            ancestors[uid] = found
        return ancestors[uid]

    reach = {
        step.name: set(step.nodes).union(*(ancestors_of(uid) for uid in step.nodes))
        for step in steps
    }
    lost = []
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] != "test":
            continue
        parents = _parents(manifest, uid)
        owners = {step_of[p].name for p in parents if p in step_of}
        if owners and not any(all(p in reach[o] for p in parents) for o in owners):
            lost.append(uid)
    return sorted(lost)


def _dbt_env(lakehouse: LakehouseResource):
    lake = lakehouse.lake()  # also creates the layer folders a local lake needs
    os.environ.update(lakehouse.settings().dbt_env(lake.uri()))
    os.environ["DBT_INDIRECT_SELECTION"] = "buildable"
    return lake


def load_raw_sources(context: AssetExecutionContext, lake: Lake, sources: list[str]) -> None:
    """On the postgres target dbt's sources are the tables raw_<connection>.<stream> (and
    raw_ops), not the lake: copy what this step reads from the lake first. The steps take
    turns (pool `warehouse`), so no load replaces a table another step's dbt is reading."""
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


def build_dbt_step(step: DbtStep, manifest: Mapping[str, Any], exclude: list[str]):
    excluded = " ".join(manifest["nodes"][uid]["name"] for uid in exclude)

    @dbt_assets(
        manifest=DBT_PROJECT.manifest_path,
        project=DBT_PROJECT,
        select=step.select(manifest),
        exclude=excluded,
        name=step.name,
        dagster_dbt_translator=TRANSLATOR,
        pool=WAREHOUSE_POOL,
    )
    def dbt_step(context: AssetExecutionContext, dbt: DbtCliResource, lakehouse: LakehouseResource):
        lake = _dbt_env(lakehouse)
        if lakehouse.settings().dbt_on_postgres:
            load_raw_sources(context, lake, step.sources_read(manifest))
        args = ["build"]
        if context.run.tags.get(FULL_REFRESH_TAG) == "true":
            args.append("--full-refresh")
        target = new_target(lakehouse.data_dir, step.name)
        invocation = dbt.cli(args, context=context, raise_on_error=False, target_path=target)
        yield from invocation.stream()
        keep_parse_state(target)
        summary = summarize_run_results(invocation.get_artifact("run_results.json"))
        summary.update(dagster_run_id=context.run_id, dbt_step=step.name)
        lake.write_json(lake.path("_ops", "dbt", f"{summary['invocation_id']}.json"), summary)
        context.log.info("dbt build (%s): %s", step.name, summary["counts"])
        if not invocation.is_successful():
            raise RuntimeError(f"dbt build failed: {summary['counts']} (see the dbt logs above)")

    return dbt_step


def _check_target(manifest: Mapping[str, Any], uid: str) -> tuple[AssetKey, list[AssetKey]]:
    """The asset a test is attached to, and the other assets it reads."""
    node = manifest["nodes"][uid]
    parents = [p for p in _parents(manifest, uid) if p in manifest["nodes"]]
    attached = node.get("attached_node") or parents[0]
    keys = [TRANSLATOR.get_asset_key(manifest["nodes"][p]) for p in parents]
    target = TRANSLATOR.get_asset_key(manifest["nodes"][attached])
    return target, [k for k in keys if k != target]


def build_cross_source_tests(manifest: Mapping[str, Any], tests: list[str]):
    specs = {}
    for uid in tests:
        target, others = _check_target(manifest, uid)
        name = manifest["nodes"][uid]["name"]
        specs[name] = AssetCheckSpec(
            name,
            asset=target,
            additional_deps=others,
            description=f"dbt test `{name}` (reads models built by different steps)",
        )

    @multi_asset_check(
        name=CROSS_SOURCE_TESTS,
        specs=list(specs.values()),
        can_subset=True,
        pool=WAREHOUSE_POOL,
        required_resource_keys={"dbt", "lakehouse"},
    )
    def cross_source_tests(context) -> Iterator[AssetCheckResult]:
        lakehouse: LakehouseResource = context.resources.lakehouse
        _dbt_env(lakehouse)
        target = new_target(lakehouse.data_dir, CROSS_SOURCE_TESTS)
        names = sorted(k.name for k in context.selected_asset_check_keys)
        dbt: DbtCliResource = context.resources.dbt
        invocation = dbt.cli(
            ["test", "--select", " ".join(names)],
            manifest=manifest,
            dagster_dbt_translator=TRANSLATOR,
            raise_on_error=False,
            target_path=target,
        )
        invocation.wait()
        keep_parse_state(target)
        for result in invocation.get_artifact("run_results.json").get("results", []):
            name = manifest["nodes"][result["unique_id"]]["name"]
            if name not in specs:
                continue
            yield AssetCheckResult(
                asset_key=specs[name].asset_key,
                check_name=name,
                passed=result["status"] == "pass",
                metadata={"status": result["status"], "failures": result.get("failures") or 0},
            )

    return cross_source_tests


def build_dbt_assets() -> list:
    manifest = load_manifest()
    steps = plan_steps(manifest)
    lost = cross_step_tests(manifest, steps)
    definitions: list = [build_dbt_step(step, manifest, lost) for step in steps]
    if lost:
        definitions.append(build_cross_source_tests(manifest, lost))
    return definitions


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


def combine_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary for a Dagster run of several dbt steps: the counts added up."""
    counts: dict[str, dict[str, int]] = {}
    for summary in summaries:
        for kind, statuses in summary.get("counts", {}).items():
            for status, n in statuses.items():
                counts.setdefault(kind, {}).setdefault(status, 0)
                counts[kind][status] += n
    return {
        "invocation_id": ",".join(s.get("invocation_id", "") for s in summaries),
        "generated_at": max((s.get("generated_at") or "" for s in summaries), default=None),
        "elapsed_s": sum(s.get("elapsed_s") or 0 for s in summaries),
        "counts": counts,
        "failures": [f for s in summaries for f in s.get("failures", [])],
    }
