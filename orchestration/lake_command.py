"""`lakehouse lake maintain [--dry-run] [--retention-days N]`: expire old snapshots of the
lake's DuckLake, compact small files, delete what no kept snapshot reads
(lake/tables/maintenance.py). The scheduled Dagster job (orchestration/maintenance.py)
runs the same `maintain_lake`.

Never expired: the DuckLake snapshots that serving published and may roll back to.
Until serving keeps its own publication record, they are read from the serving catalogs
that `lake.serving` keeps (`analytics.gold_publication.lake_snapshot_id` in each
`serving/snapshots/<id>/catalog.duckdb`): the current publish and those before it that are
still on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from lake import open_lake
from lake.serving import PUBLICATION_TABLE, SCHEMA, SNAPSHOT_CATALOG, SNAPSHOTS
from lake.storage import TMP_PREFIX
from lake.tables.maintenance import MaintenanceReport, Retention, maintain
from orchestration.settings import Settings


def published_lake_snapshots(serving_dir: Path) -> set[int]:
    """The DuckLake snapshots of every publish still in the serving folder."""
    snapshots = Path(serving_dir) / SNAPSHOTS
    found: set[int] = set()
    if not snapshots.is_dir():
        return found
    for folder in sorted(snapshots.iterdir()):
        catalog = folder / SNAPSHOT_CATALOG
        if folder.name.startswith(TMP_PREFIX) or not catalog.exists():
            continue
        with duckdb.connect(str(catalog), read_only=True) as con:
            rows = con.execute(
                f"select distinct lake_snapshot_id from {SCHEMA}.{PUBLICATION_TABLE} "
                "where lake_snapshot_id is not null"
            ).fetchall()
        found.update(int(sid) for (sid,) in rows)
    return found


def maintain_lake(
    settings: Settings, retention_days: float | None = None, dry_run: bool = False
) -> MaintenanceReport:
    """One maintenance run over the settings' lake, keeping what serving published."""
    lake = open_lake(settings.lake_url, create=False)
    retention = Retention.from_env(os.environ, days=retention_days)
    keep = published_lake_snapshots(settings.serving_dir)
    return maintain(lake, settings.table_catalog(lake.uri()), retention, keep, dry_run)


def lake_maintain(settings: Settings, retention_days: float | None, dry_run: bool) -> int:
    report = maintain_lake(settings, retention_days, dry_run)
    header = "lake maintenance (dry run: nothing changed)" if dry_run else "lake maintenance"
    print("\n".join([header, *(f"  {line}" for line in report.lines())]))
    return 0
