"""Sensors: new files in the landing zone start their connection's sync; failed runs and
failed checks raise an alert (lake/alerts.py); a run whose sync failed goes on with the
models that do not read it (resume.py); declarative automation refreshes
downstream models when their inputs update; freshness checks are evaluated on time.

The landing, alert and automation sensors start RUNNING: they only react to something
that happened. The freshness sensor follows the schedules (see schedules.py).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SkipReason,
    build_sensor_for_freshness_checks,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)
from dagster._utils.warnings import SupersessionWarning

from ingestion.connections import Connection, ConnectionsFile
from ingestion.protocol import SourceError
from ingestion.sources.files import _fingerprint, list_files  # what the files source compares
from lake import Lake, LakeError
from lake.alerts import Alert, send_alert
from orchestration.assets.ingestion import bronze_key
from orchestration.resources import LakehouseResource
from orchestration.resume import resume_after_failed_sync
from orchestration.schedules import time_sensor_status

LANDING_INTERVAL_S = 30


# -- landing zone -------------------------------------------------------------------------
def committed_files(lake: Lake, connection: str, stream: str) -> dict[str, Any]:
    """The files the last committed sync of a stream had seen (read only: no recovery)."""
    path = lake.path("_ops", "state", f"{connection}.json")
    if not lake.exists(path):
        return {}
    streams = lake.read_json(path).get("streams", {})
    return (streams.get(stream, {}).get("state") or {}).get("files", {})


def new_landing_files(lake: Lake, name: str, connection: Connection) -> dict[str, list[str]]:
    """Per stream, the files the connection has not synced yet (new or changed)."""
    url = connection.config["url"]
    found: dict[str, list[str]] = {}
    for stream in connection.streams:
        pattern = (stream.model_extra or {}).get("pattern")
        if not pattern:
            continue
        _, root, infos = list_files(url, pattern)
        seen = committed_files(lake, name, stream.name)
        new = [
            i.path[len(root) :].lstrip("/")
            for i in infos
            if seen.get(i.path[len(root) :].lstrip("/")) != _fingerprint(i)
        ]
        if new:
            found[stream.name] = new
    return found


def build_landing_sensor(name: str, connection: Connection):
    @sensor(
        name=f"landing_{name}",
        description=f"New files in {connection.config.get('url')} start the `{name}` sync",
        asset_selection=AssetSelection.assets(
            *(bronze_key(name, s.name) for s in connection.streams)
        ),
        minimum_interval_seconds=LANDING_INTERVAL_S,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def landing(context: SensorEvaluationContext, lakehouse: LakehouseResource):
        try:
            new = new_landing_files(lakehouse.lake(), name, lakehouse.connection(name))
        except (SourceError, LakeError) as exc:
            return SkipReason(f"cannot list the landing zone: {exc}")
        if not new:
            return SkipReason("no new files")
        # the same set of new files asks for one run, however often the sensor looks
        run_key = hashlib.sha256(json.dumps(new, sort_keys=True).encode()).hexdigest()[:16]
        return RunRequest(
            run_key=run_key,
            asset_selection=[bronze_key(name, stream) for stream in new],
            tags={"lakehouse/trigger": "landing"},
        )

    return landing


# -- alerts -------------------------------------------------------------------------------
def failed_checks(instance: DagsterInstance, run_id: str) -> list[dict[str, str]]:
    failed = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        if not evaluation.passed:
            failed.append(
                {
                    "asset": evaluation.asset_key.to_user_string(),
                    "check": evaluation.check_name,
                    "severity": evaluation.severity.value,
                }
            )
    return failed


def _check_lines(failed: list[dict[str, str]]) -> Iterator[str]:
    for f in failed:
        yield f"check `{f['check']}` on `{f['asset']}` failed ({f['severity']})"


def _root_cause(error) -> str:
    """Dagster wraps what an op raised; the user's own error says what went wrong."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def run_failure_alert(context: RunFailureSensorContext, lake: Lake) -> str:
    run = context.dagster_run
    steps = [
        {"step": e.step_key, "error": _root_cause(e.event_specific_data.error)[:500]}
        for e in context.get_step_failure_events()
        if e.event_specific_data and e.event_specific_data.error
    ]
    checks = failed_checks(context.instance, run.run_id)
    alert = Alert(
        kind="run_failure",
        title=f"Dagster run {run.run_id[:8]} of {run.job_name} failed",
        lines=[f"step `{s['step']}`: {s['error'].splitlines()[0]}" for s in steps]
        + list(_check_lines(checks)),
        details={"run_id": run.run_id, "job": run.job_name, "steps": steps, "checks": checks},
    )
    return send_alert(lake, alert)


def check_failure_alert(context: RunStatusSensorContext, lake: Lake) -> str | None:
    run = context.dagster_run
    checks = failed_checks(context.instance, run.run_id)
    if not checks:
        return None
    alert = Alert(
        kind="check_failure",
        title=f"{len(checks)} asset check(s) failed in run {run.run_id[:8]} of {run.job_name}",
        lines=list(_check_lines(checks)),
        details={"run_id": run.run_id, "job": run.job_name, "checks": checks},
    )
    return send_alert(lake, alert)


@run_failure_sensor(name="alert_on_run_failure", default_status=DefaultSensorStatus.RUNNING)
def alert_on_run_failure(context: RunFailureSensorContext, lakehouse: LakehouseResource):
    path = run_failure_alert(context, lakehouse.lake())
    context.log.info("alert written to %s", path)


@run_status_sensor(
    name="alert_on_failed_checks",
    run_status=DagsterRunStatus.SUCCESS,
    default_status=DefaultSensorStatus.RUNNING,
)
def alert_on_failed_checks(context: RunStatusSensorContext, lakehouse: LakehouseResource):
    path = check_failure_alert(context, lakehouse.lake())
    if path:
        context.log.info("alert written to %s", path)


# -- all of them --------------------------------------------------------------------------
def build_sensors(connections: ConnectionsFile, freshness_checks: list) -> list:
    sensors: list = [
        build_landing_sensor(name, connection)
        for name, connection in connections.connections.items()
        if connection.source == "files"
    ]
    sensors += [alert_on_run_failure, alert_on_failed_checks, resume_after_failed_sync]
    sensors.append(
        AutomationConditionSensorDefinition(
            "automation",
            target=AssetSelection.all(),
            default_status=DefaultSensorStatus.RUNNING,
            description="declarative automation: models refresh when their inputs update",
        )
    )
    if freshness_checks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SupersessionWarning)  # see checks.py
            sensors.append(
                build_sensor_for_freshness_checks(
                    freshness_checks=freshness_checks, default_status=time_sensor_status()
                )
            )
    return sensors
