"""Publish gold to the read-only serving layer that dashboards read (embedded default).

Gold is a set of DuckLake tables (lake/tables/catalog.py) that dbt changes while dashboards
may be reading. Each publish:

1. freezes gold into an immutable snapshot, `serving_dir/snapshots/<snapshot_id>/<model>/...`:
   every gold table exported to Parquet as of one DuckLake snapshot (recorded as
   `lake_snapshot_id`), so the marts of a publish are consistent with each other. (A copy:
   the next step is to serve the DuckLake pinned to the published snapshot instead,
   docs/lake.md.)
2. writes a DuckDB catalog of views over that snapshot (schema `analytics`, one view per
   mart, plus the table `analytics.gold_publication`) into the snapshot under a temporary
   name, checkpoints, closes and renames it `catalog.duckdb`;
3. points `serving_dir/gold.duckdb` at it: a symbolic link written under a temporary name
   and moved into place with `os.replace`, so a reader opens the old catalog or the new one,
   never a half-written or locked file. A link and not the file itself, because DuckDB
   caches open databases per process by resolved path: while any connection of a process
   (one Superset worker) has the catalog open, a new connection to a file replaced in place
   would get the old instance again, and a busy dashboard would never see a new publish;
4. prunes old snapshots, keeping the current and the previous one, and any superseded for
   less than `GRACE_SECONDS` (a query opened on an older catalog may still be reading it).

Publishes are serialized with a lock file, so two publishers never prune each other's work.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import duckdb

from lake.errors import LakeError
from lake.storage import TMP_PREFIX, Lake
from lake.tables.catalog import (
    ALIAS,
    CatalogError,
    TableCatalog,
    connect,
    tables_in,
)
from lake.tables.catalog import current_snapshot as lake_snapshot_of

log = logging.getLogger(__name__)

CATALOG_NAME = "gold.duckdb"
SCHEMA = "analytics"
GOLD_SCHEMA = "marts"  # the DuckLake schema of the gold tables (dbt's marts)
PUBLICATION_TABLE = "gold_publication"
SNAPSHOTS = "snapshots"
SNAPSHOT_CATALOG = "catalog.duckdb"
KEEP_SNAPSHOTS = 2  # the current one and the previous one
GRACE_SECONDS = 600.0  # longer than any dashboard query (Superset times out at 60 s)


@dataclass(frozen=True)
class PublishResult:
    catalog_path: Path
    snapshot_id: str
    snapshot_dir: Path
    models: dict[str, int]  # rows per mart
    lake_snapshot: int = 0  # the DuckLake snapshot gold was exported from
    exported_files: int = 0
    pruned_snapshots: list[str] = field(default_factory=list)
    seconds: float = 0.0


def catalog_path(serving_dir: Path) -> Path:
    """Where the serving catalog is (what Superset opens, read-only): a link to the current
    snapshot's catalog."""
    return Path(serving_dir) / CATALOG_NAME


def publish_gold(
    lake: Lake,
    serving_dir: Path,
    tables: TableCatalog | None = None,
    grace_seconds: float = GRACE_SECONDS,
) -> PublishResult:
    """Freeze the lake's gold tables (its DuckLake `tables`, default the catalog beside a
    local lake) into a snapshot and swap the serving catalog onto it."""
    tables = tables or TableCatalog.beside(lake.location)
    started = time.perf_counter()
    serving_dir = Path(serving_dir).resolve()
    snapshots = serving_dir / SNAPSHOTS
    snapshots.mkdir(parents=True, exist_ok=True)
    with _publish_lock(serving_dir):
        snapshot_id = _new_snapshot_id()
        snapshot_dir = snapshots / snapshot_id
        staging = snapshots / f"{TMP_PREFIX}{snapshot_id}"
        try:
            lake_snapshot, files = _freeze_gold(lake, tables, staging)
            # the snapshot appears whole under its final name, or not at all
            os.replace(staging, snapshot_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        models = _write_catalog(snapshot_dir, snapshot_id, lake_snapshot)
        _point_at(catalog_path(serving_dir), snapshot_dir / SNAPSHOT_CATALOG)
        pruned = _prune(snapshots, KEEP_SNAPSHOTS, grace_seconds)
    result = PublishResult(
        catalog_path=catalog_path(serving_dir),
        snapshot_id=snapshot_id,
        snapshot_dir=snapshot_dir,
        models=models,
        lake_snapshot=lake_snapshot,
        exported_files=files,
        pruned_snapshots=pruned,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "published %d gold marts (%d rows) as snapshot %s in %.2fs",
        len(models),
        sum(models.values()),
        snapshot_id,
        result.seconds,
    )
    return result


def _new_snapshot_id() -> str:
    # sortable by time, unique even within the same microsecond
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


@contextmanager
def _publish_lock(serving_dir: Path) -> Iterator[None]:
    with open(serving_dir / ".publish.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- 1. the snapshot ------------------------------------------------------------------------
def _freeze_gold(lake: Lake, tables: TableCatalog, target: Path) -> tuple[int, int]:
    """Export every gold table of the lake's DuckLake, as of its latest snapshot, to Parquet
    under `target/<mart>/`; returns (the DuckLake snapshot, the files written)."""
    filesystem = lake.location.fsspec_filesystem() if lake.location.is_s3 else None
    try:
        con = connect(tables, read_only=True, filesystem=filesystem)
    except CatalogError as exc:
        raise LakeError(f"{exc} (run the dbt build first)") from exc
    try:
        marts = tables_in(con, GOLD_SCHEMA)
        if not marts:
            raise LakeError(f"the lake {lake.url} holds no gold table: run the dbt build first")
        snapshot = lake_snapshot_of(con)
        target.mkdir(parents=True, exist_ok=True)
        for mart in marts:
            destination = _sql_string(str(target / mart))
            con.execute(
                f'copy (select * from {ALIAS}.{GOLD_SCHEMA}."{mart}" at (version => {snapshot})) '
                f"to {destination} (format parquet, compression zstd, per_thread_output true)"
            )
    finally:
        con.close()
    return snapshot, sum(1 for _ in target.rglob("*.parquet"))


# -- 2. the catalog -------------------------------------------------------------------------
def _models_in(snapshot_dir: Path) -> list[str]:
    return sorted(
        path.name
        for path in snapshot_dir.iterdir()
        if path.is_dir() and not path.name.startswith((".", "_"))
    )


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _write_catalog(snapshot_dir: Path, snapshot_id: str, lake_snapshot: int) -> dict[str, int]:
    """Write the snapshot's catalog under a temporary name, then rename it."""
    final = snapshot_dir / SNAPSHOT_CATALOG
    temporary = snapshot_dir / f"{TMP_PREFIX}{SNAPSHOT_CATALOG}"
    models: dict[str, int] = {}
    published_at = datetime.now(UTC).replace(tzinfo=None)
    try:
        connection = duckdb.connect(str(temporary))
        try:
            connection.execute(f"create schema {SCHEMA}")
            for model in _models_in(snapshot_dir):
                # hive partitions (daily_revenue's year/month) become columns again
                files = _sql_string(str(snapshot_dir / model / "**" / "*.parquet"))
                connection.execute(
                    f'create view {SCHEMA}."{model}" as '
                    f"select * from read_parquet({files}, hive_partitioning = true)"
                )
                row = connection.execute(f'select count(*) from {SCHEMA}."{model}"').fetchone()
                models[model] = int(row[0]) if row else 0
            connection.execute(
                f"create table {SCHEMA}.{PUBLICATION_TABLE} ("
                "snapshot_id varchar, published_at timestamp, model_name varchar, "
                "row_count bigint, lake_snapshot_id bigint)"
            )
            connection.executemany(
                f"insert into {SCHEMA}.{PUBLICATION_TABLE} values (?, ?, ?, ?, ?)",
                [
                    (snapshot_id, published_at, model, rows, lake_snapshot)
                    for model, rows in models.items()
                ],
            )
            connection.execute("checkpoint")
        finally:
            connection.close()
        os.replace(temporary, final)
    finally:
        for leftover in (temporary, Path(f"{temporary}.wal")):
            leftover.unlink(missing_ok=True)
    return models


def _point_at(link: Path, target: Path) -> None:
    """Atomically make `link` a relative symbolic link to `target`."""
    temporary = link.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}-{link.name}")
    temporary.symlink_to(os.path.relpath(target, link.parent))
    try:
        os.replace(temporary, link)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


# -- 3. pruning -----------------------------------------------------------------------------
def _prune(snapshots: Path, keep: int, grace_seconds: float) -> list[str]:
    """Delete snapshots older than the `keep` newest once superseded for `grace_seconds`,
    and leftovers of failed publishes."""
    names = sorted(p.name for p in snapshots.iterdir() if p.is_dir())
    finished = [n for n in names if not n.startswith(TMP_PREFIX)]
    now = time.time()
    doomed = [n for n in names if n.startswith(TMP_PREFIX)]
    superseded = list(pairwise(finished))[: max(len(finished) - keep, 0)]
    for name, successor in superseded:
        if now - _published_at(successor) >= grace_seconds:
            doomed.append(name)
    for name in doomed:
        shutil.rmtree(snapshots / name, ignore_errors=True)
    return doomed


def _published_at(snapshot_id: str) -> float:
    stamp = snapshot_id.split("-", 1)[0]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC).timestamp()


def current_snapshot(serving_dir: Path) -> str | None:
    """The snapshot the served catalog points at (None before the first publish)."""
    path = catalog_path(serving_dir)
    if not path.exists():
        return None
    with duckdb.connect(str(path), read_only=True) as connection:
        row = connection.execute(
            f"select max(snapshot_id) from {SCHEMA}.{PUBLICATION_TABLE}"
        ).fetchone()
    return row[0] if row else None
