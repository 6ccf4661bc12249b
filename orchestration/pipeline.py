"""Run the whole graph as three Dagster runs: sync to bronze, build with dbt, publish.

dbt is one step (one invocation) for every model. Dagster does not run a step after an
upstream step failed, so in one run a failing sync would stop every model. Splitting the
runs at bronze keeps the promise that a failing source stops only its own models: the dbt
run selects every model except those downstream of the bronze assets the syncs did not
materialize, and publishing waits for all of gold (it is downstream of every mart).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dagster import AssetKey, AssetSelection, DagsterInstance, Definitions, materialize

from orchestration.assets.dbt import DBT_ASSETS
from orchestration.assets.ingestion import BRONZE_GROUP
from orchestration.assets.serving import DASHBOARDS_GROUP, SERVING_GROUP

T = TypeVar("T")
INGEST = "ingest to bronze"
TRANSFORM = "dbt build (silver, gold, tests)"
PUBLISH = "publish gold to serving, check dashboards"

# a stage runner: given a stage's name and the call that runs it (the demo times it)
StageRunner = Callable[[str, Callable[[], Any]], Any]


@dataclass
class PipelineOutcome:
    failed_steps: list[str] = field(default_factory=list)
    not_synced: set[AssetKey] = field(default_factory=set)  # bronze assets a sync failed
    left_out: set[AssetKey] = field(default_factory=set)  # not run: downstream of those
    materialized: set[AssetKey] = field(default_factory=set)

    @property
    def success(self) -> bool:
        return not self.failed_steps


def _call(_: str, fn: Callable[[], T]) -> T:
    return fn()


def _is_dbt(assets_def: Any) -> bool:
    return assets_def.is_executable and assets_def.node_def.name == DBT_ASSETS


def run_pipeline(
    defs: Definitions,
    instance: DagsterInstance,
    run_config: dict[str, Any] | None = None,
    stage: StageRunner = _call,
) -> PipelineOutcome:
    assets = list(defs.assets or [])
    # the checks defined apart from their assets (freshness, bronze-staging reconciliation)
    # run with the assets they check: a selection of assets selects their checks
    standalone_checks = list(defs.asset_checks or [])
    graph = defs.resolve_asset_graph()
    outcome = PipelineOutcome()

    def run(selection: AssetSelection):
        result = materialize(
            [*assets, *standalone_checks],
            selection=selection,
            resources=defs.resources or {},
            instance=instance,
            run_config=run_config or {},
            raise_on_error=False,
        )
        outcome.failed_steps += [e.step_key for e in result.get_step_failure_events()]
        outcome.materialized |= {
            e.asset_key for e in result.get_asset_materialization_events() if e.asset_key
        }
        return result

    # dbt's source tests are checks on the bronze assets, but dbt runs them: with the models
    dbt_checks = AssetSelection.checks(*(k for a in assets for k in a.check_keys if _is_dbt(a)))
    bronze = AssetSelection.groups(BRONZE_GROUP) - dbt_checks
    stage(INGEST, lambda: run(bronze))
    outcome.not_synced = set(bronze.resolve(graph)) - outcome.materialized
    blocked = AssetSelection.assets(*outcome.not_synced).downstream()
    published = AssetSelection.groups(SERVING_GROUP, DASHBOARDS_GROUP)
    everything = AssetSelection.all()
    outcome.left_out = set((everything - bronze).resolve(graph)) & set(blocked.resolve(graph))

    models = (everything - bronze - published - blocked) | (dbt_checks - blocked)
    if models.resolve(graph):
        stage(TRANSFORM, lambda: run(models))
    # dashboards read an immutable snapshot of gold, never the files dbt rewrites
    publish = published - blocked
    if publish.resolve(graph) and not outcome.failed_steps:
        stage(PUBLISH, lambda: run(publish))
    return outcome
