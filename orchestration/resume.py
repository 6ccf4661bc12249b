"""A run whose sync failed resumes with every model that does not read the failed source.

Dagster runs no step after a failed upstream step: in one run of syncs and models (a
schedule's, the nightly full refresh, a materialization launched in the UI) a failing sync
skips the one dbt step, so every model. The sensor `resume_after_failed_sync` answers such a
failure with one more run: the assets and checks the failed run planned and did not
materialize, less everything downstream of the failed syncs' streams. dbt then builds the
other sources' models in one invocation, as the demo's split runs do (pipeline.py).

It resumes only runs in which nothing but syncs failed (a failed dbt build or publish step
is for a person to look at) and never a run it started itself, so it cannot loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SkipReason,
    define_asset_job,
    run_failure_sensor,
)

from orchestration.assets.ingestion import BRONZE_GROUP, FULL_REFRESH_TAG

RESUMES_TAG = "lakehouse/resumes"  # on a resuming run: the run it resumes
RESUME_JOB = "resume_after_failed_sync"
INHERITED_TAGS = (FULL_REFRESH_TAG,)

_EVENTS = {
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
    DagsterEventType.STEP_FAILURE,
}


@dataclass
class RunOutcome:
    """What a finished run planned, what it did, and which of its steps failed."""

    planned: set[AssetKey]
    planned_checks: set[AssetCheckKey]
    materialized: set[AssetKey]
    evaluated: set[AssetCheckKey]
    failed_steps: set[str]

    @classmethod
    def of(cls, instance: DagsterInstance, run_id: str) -> RunOutcome:
        outcome = cls(set(), set(), set(), set(), set())
        for record in instance.all_logs(run_id, of_type=_EVENTS):
            event = record.get_dagster_event()
            kind, data = event.event_type, event.event_specific_data
            if kind == DagsterEventType.STEP_FAILURE:
                outcome.failed_steps.add(event.step_key)
            elif kind == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
                outcome.planned.add(data.asset_key)
            elif kind == DagsterEventType.ASSET_MATERIALIZATION:
                outcome.materialized.add(event.asset_key)
            elif kind == DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
                outcome.planned_checks.add(data.asset_check_key)
            else:
                outcome.evaluated.add(data.asset_check_key)
        return outcome


def downstream_of(graph, keys: set[AssetKey]) -> set[AssetKey]:
    """The keys and every asset that reads them, directly or not."""
    return set(AssetSelection.assets(*keys).downstream().resolve(graph)) if keys else set()


def _step(graph, key: AssetKey) -> str:
    return graph.get(key).assets_def.node_def.name


def rest_of_run(graph, outcome: RunOutcome) -> tuple[set[AssetKey], set[AssetCheckKey]] | str:
    """The assets and checks to resume, or why the run is not resumed."""
    if not outcome.failed_steps:
        return "no step failed"
    not_done = outcome.planned - outcome.materialized
    failed = {k for k in not_done if _step(graph, k) in outcome.failed_steps}
    syncs = {_step(graph, k) for k in failed if graph.get(k).group_name == BRONZE_GROUP}
    if outcome.failed_steps != syncs:
        return f"steps other than syncs failed: {', '.join(sorted(outcome.failed_steps - syncs))}"
    blocked = downstream_of(graph, failed)
    assets = not_done - blocked
    # dbt's source tests are checks on the bronze streams: those of the synced ones run
    checks = {c for c in outcome.planned_checks - outcome.evaluated if c.asset_key not in blocked}
    if not assets:
        return "every asset left reads a failed sync"
    return assets, checks


def resume_request(graph, instance: DagsterInstance, run) -> RunRequest | SkipReason:
    if RESUMES_TAG in run.tags:
        return SkipReason(f"run {run.run_id} resumes another run: not resumed again")
    rest = rest_of_run(graph, RunOutcome.of(instance, run.run_id))
    if isinstance(rest, str):
        return SkipReason(f"run {run.run_id} not resumed: {rest}")
    assets, checks = rest
    tags = {k: v for k, v in run.tags.items() if k in INHERITED_TAGS}
    return RunRequest(
        run_key=run.run_id,  # one resume per failed run, however often the sensor looks
        asset_selection=sorted(assets, key=str),
        asset_check_keys=sorted(checks, key=str),
        tags={**tags, RESUMES_TAG: run.run_id},
    )


# the job the resuming runs are subsets of
resume_job = define_asset_job(
    RESUME_JOB,
    selection=AssetSelection.all(),
    description="what a run whose sync failed left undone, less what reads the failed sync",
)


@run_failure_sensor(
    name=RESUME_JOB,
    request_job=resume_job,
    minimum_interval_seconds=10,
    default_status=DefaultSensorStatus.RUNNING,
    description="a run whose sync failed goes on with the models that do not read that sync",
)
def resume_after_failed_sync(context: RunFailureSensorContext):
    return resume_request(context.repository_def.asset_graph, context.instance, context.dagster_run)
