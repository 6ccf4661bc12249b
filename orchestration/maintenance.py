"""The lake's maintenance as a Dagster job on a daily schedule (`lakehouse lake maintain`
runs the same): expire old snapshots, compact small files, delete unread files.

It commits to the DuckLake catalog like a dbt build, so it takes the dbt steps' pool: with
a SQLite catalog two commits at once fail ("database is locked", docs/lake.md).
"""

from dagster import (
    Config,
    Definitions,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)

from orchestration.assets.dbt import WAREHOUSE_POOL
from orchestration.lake_command import maintain_lake
from orchestration.resources import LakehouseResource
from orchestration.schedules import schedule_status

MAINTENANCE_CRON = "30 3 * * *"  # after the nightly full refresh (02:00)


class MaintenanceConfig(Config):
    dry_run: bool = False
    retention_days: float | None = None  # default LAKE_RETENTION_DAYS, else 7


@op(pool=WAREHOUSE_POOL)
def maintain_lake_tables(
    context: OpExecutionContext, config: MaintenanceConfig, lakehouse: LakehouseResource
) -> None:
    report = maintain_lake(lakehouse.settings(), config.retention_days, config.dry_run)
    for line in report.lines():
        context.log.info(line)
    context.add_output_metadata(
        {
            "snapshots_expired": len(report.expired),
            "snapshots_kept_for_serving": report.kept_for_serving,
            "files_deleted": report.deleted_files,
            "bytes_freed": report.freed_bytes,
            "table_files_after": report.after.files,
            "table_bytes_after": report.after.bytes,
        }
    )


@job(description="expire old DuckLake snapshots, compact small files, delete unread files")
def lake_maintenance() -> None:
    maintain_lake_tables()


def definitions() -> Definitions:
    """The job and its daily schedule (stopped unless LAKEHOUSE_SCHEDULES=running)."""
    schedule = ScheduleDefinition(
        job=lake_maintenance,
        cron_schedule=MAINTENANCE_CRON,
        execution_timezone="UTC",
        default_status=schedule_status(),
    )
    return Definitions(jobs=[lake_maintenance], schedules=[schedule])
