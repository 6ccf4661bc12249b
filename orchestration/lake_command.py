"""`lakehouse lake maintain [--dry-run] [--retention-days N]`: expire old snapshots of the
lake's DuckLake, compact small files, delete what no kept snapshot reads
(lake/tables/maintenance.py). The scheduled Dagster job (orchestration/maintenance.py)
runs the same `maintain_lake`.

Never expired: the DuckLake snapshots that serving reads or may roll back to, from serving's
own publication record (lake/tables/publications.py): the served one and those of the last
LAKE_KEEP_PUBLISHES publishes (default 5).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from lake import Lake, open_lake
from lake.tables.maintenance import MaintenanceReport, Retention, maintain
from lake.tables.publications import published_snapshots
from orchestration.settings import Settings
from serving.duckdb_catalog import oldest_frozen_copy

KEEP_PUBLISHES_ENV = "LAKE_KEEP_PUBLISHES"
DEFAULT_KEEP_PUBLISHES = 5  # how far back `lakehouse serving rollback` can go


def kept_for_serving(lake: Lake, env: Mapping[str, str]) -> set[int]:
    """The snapshots serving reads or may roll back to."""
    value = env.get(KEEP_PUBLISHES_ENV) or str(DEFAULT_KEEP_PUBLISHES)
    try:
        last = int(value)
    except ValueError:
        raise ValueError(f"{KEEP_PUBLISHES_ENV}: expected a whole number, got {value!r}") from None
    return set(published_snapshots(lake, last=last))


def maintain_lake(
    settings: Settings, retention_days: float | None = None, dry_run: bool = False
) -> MaintenanceReport:
    """One maintenance run over the settings' lake, keeping what serving published."""
    lake = open_lake(settings.lake_url, create=False)
    retention = Retention.from_env(os.environ, days=retention_days)
    keep = kept_for_serving(lake, os.environ)
    # the frozen catalogs that serving reads name files the live catalog may have dropped
    copies_since = oldest_frozen_copy(settings.serving_dir)
    tables = settings.table_catalog(lake.uri())
    return maintain(lake, tables, retention, keep, dry_run, copies_since=copies_since)


def lake_maintain(settings: Settings, retention_days: float | None, dry_run: bool) -> int:
    report = maintain_lake(settings, retention_days, dry_run)
    header = "lake maintenance (dry run: nothing changed)" if dry_run else "lake maintenance"
    print("\n".join([header, *(f"  {line}" for line in report.lines())]))
    return 0
