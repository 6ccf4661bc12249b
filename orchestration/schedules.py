"""Schedules: each connection's syncs on its cron (from the connections file) together with
the models downstream of them, and a nightly full refresh of everything.

They start STOPPED: on a laptop the sources (the demo's CRM API in particular) are only
up while `lakehouse demo` runs. Turn them on in the UI, or start the UI with
LAKEHOUSE_SCHEDULES=running (as server mode does).
"""

from __future__ import annotations

import os

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    ScheduleDefinition,
    define_asset_job,
)

from ingestion.connections import ConnectionsFile
from orchestration.assets.ingestion import FULL_REFRESH_TAG, bronze_key, stream_schedule

SCHEDULES_ENV = "LAKEHOUSE_SCHEDULES"
NIGHTLY_CRON = "0 2 * * *"


def schedules_running() -> bool:
    return os.environ.get(SCHEDULES_ENV, "").lower() == "running"


def schedule_status() -> DefaultScheduleStatus:
    return DefaultScheduleStatus.RUNNING if schedules_running() else DefaultScheduleStatus.STOPPED


def time_sensor_status() -> DefaultSensorStatus:
    """For sensors that only make sense while the schedules run (freshness)."""
    return DefaultSensorStatus.RUNNING if schedules_running() else DefaultSensorStatus.STOPPED


def streams_by_cron(connections: ConnectionsFile) -> dict[str, list[AssetKey]]:
    by_cron: dict[str, list[AssetKey]] = {}
    for name, connection in connections.connections.items():
        for stream in connection.streams:
            cron = stream_schedule(connection, stream.name)
            if cron:
                by_cron.setdefault(cron, []).append(bronze_key(name, stream.name))
    return by_cron


def _job_name(keys: list[AssetKey]) -> str:
    connections = dict.fromkeys(k.path[1] for k in keys)
    return "scheduled_" + "_".join(connections)


def build_schedules(connections: ConnectionsFile) -> list[ScheduleDefinition]:
    schedules = []
    for cron, keys in streams_by_cron(connections).items():
        # the syncs, then every model, check and dashboard that reads them
        job = define_asset_job(
            _job_name(keys),
            selection=AssetSelection.assets(*keys).downstream(),
            description=f"incremental syncs on `{cron}` and everything downstream of them",
        )
        schedules.append(
            ScheduleDefinition(
                job=job,
                cron_schedule=cron,
                execution_timezone="UTC",
                default_status=schedule_status(),
            )
        )
    nightly = define_asset_job(
        "nightly_full_refresh",
        selection=AssetSelection.all(),
        tags={FULL_REFRESH_TAG: "true"},
        description="re-read every source from scratch and rebuild every model (--full-refresh)",
    )
    schedules.append(
        ScheduleDefinition(
            job=nightly,
            cron_schedule=NIGHTLY_CRON,
            execution_timezone="UTC",
            default_status=schedule_status(),
        )
    )
    return schedules
