"""One sync per connection at a time, and a record of the sync that was killed.

A sync holds an exclusive lock on its connection (an OS file lock: the kernel releases it
when the process dies, even by SIGKILL) and writes a marker, `_ops/running/<connection>.json`,
which it removes once its run record is written. So when the next sync of the connection
holds the lock and still finds a marker, or staged files, the sync that left them died
without recording its end: it is recorded as `interrupted` under `_ops/runs/`, with what it
had staged, and its staged files are removed. A second sync started while one runs fails
at once and touches nothing.

The lock file sits in the lake folder for a local lake. For a lake in a bucket it is a
local file, so it keeps out a second sync on the same machine only; syncs of one
connection on several machines must be serialised by the scheduler (Dagster runs each
connection as one asset).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ingestion.bronze import STAGING
from ingestion.records import SyncResult
from lake import Lake

log = logging.getLogger(__name__)


class ConnectionBusyError(RuntimeError):
    """Another sync of the same connection is running."""


def lock_path(lake: Lake, connection: str) -> Path:
    if not lake.location.is_s3:
        return Path(lake.path("_ops", "locks", f"{connection}.lock"))
    # one bucket name on two endpoints (two MinIOs, AWS and a local server) is two lakes
    endpoint = (lake.location.s3.endpoint if lake.location.s3 else None) or "aws"
    lake_id = hashlib.sha256(f"{endpoint} {lake.url}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "lakehouse-locks" / f"{lake_id}-{connection}.lock"


def marker_path(lake: Lake, connection: str) -> str:
    return lake.path("_ops", "running", f"{connection}.json")


@contextmanager
def connection_lock(lake: Lake, connection: str) -> Iterator[None]:
    """Hold the connection's lock, or fail at once naming the sync that holds it."""
    path = lock_path(lake, connection)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConnectionBusyError(
                f"{connection}: another sync of this connection is running "
                f"({_describe(lake, connection)}); wait for it to end"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _describe(lake: Lake, connection: str) -> str:
    marker = _read_marker(lake, connection)
    if not marker:
        return f"lock {lock_path(lake, connection)}"
    return (
        f"sync {marker.get('sync_id')}, pid {marker.get('pid')} on {marker.get('host')}, "
        f"started {marker.get('started_at')}"
    )


def _read_marker(lake: Lake, connection: str) -> dict[str, Any] | None:
    path = marker_path(lake, connection)
    try:
        return lake.read_json(path) if lake.exists(path) else None
    except (OSError, ValueError):  # a marker cut short is still a marker
        return {}


def mark_running(
    lake: Lake, result: SyncResult, streams: list[str], kind: str | None = None
) -> None:
    """`kind`: what runs when it is not a sync (a DLQ replay), for its record if killed."""
    lake.write_json(
        marker_path(lake, result.connection),
        {
            "kind": kind,
            "connection": result.connection,
            "source": result.source,
            "sync_id": result.sync_id,
            "started_at": result.started_at.isoformat(),
            "full_refresh": result.full_refresh,
            "streams": streams,
            "pid": os.getpid(),
            "host": socket.gethostname(),
        },
    )


def clear_running(lake: Lake, connection: str) -> None:
    path = marker_path(lake, connection)
    if lake.exists(path):
        lake.fs.delete_file(path)


def _staged_by_sync(lake: Lake, connection: str) -> dict[str, list[str]]:
    """Staged files left under bronze/_staging/<connection>/, by the sync that wrote them."""
    staging = lake.path("bronze", STAGING, connection)
    by_sync: dict[str, list[str]] = {}
    for info in lake.list_files(staging):
        sync_id = lake.key_of(info.path).split("/")[3]
        by_sync.setdefault(sync_id, []).append(info.path)
    return by_sync


def _rows_in(lake: Lake, paths: list[str]) -> int | None:
    """Rows in the staged files, from their footers (None if a footer cannot be read)."""
    rows = 0
    for path in paths:
        try:
            with lake.fs.open_input_file(path) as handle:
                rows += pq.ParquetFile(handle).metadata.num_rows
        except (OSError, ValueError):
            return None
    return rows


def record_interrupted(
    lake: Lake, connection: str, source: str, last_committed: str | None
) -> list[str]:
    """Record the syncs that died without recording their end; returns their sync ids.

    Call it holding the connection's lock, after an unfinished commit has been rolled
    forward (what is still staged then was never committed)."""
    marker = _read_marker(lake, connection)
    staged = _staged_by_sync(lake, connection)
    interrupted = set(staged)
    if marker and marker.get("sync_id"):
        interrupted.add(marker["sync_id"])
    for sync_id in sorted(interrupted):
        about = marker if marker and marker.get("sync_id") == sync_id else {}
        files = staged.get(sync_id, [])
        path = lake.path("_ops", "runs", connection, f"{sync_id}.json")
        if lake.exists(path) and not files:
            continue  # it recorded its end and was stopped just before removing its marker
        rows = _rows_in(lake, files)
        started = about.get("started_at")
        result = SyncResult(
            connection=connection,
            source=about.get("source") or source,
            sync_id=sync_id,
            started_at=datetime.fromisoformat(started) if started else _time_of(sync_id),
            # when it ended is unknown: the last file it wrote is the last sign of life
            finished_at=_last_written(
                lake, files + ([marker_path(lake, connection)] if about else [])
            ),
            status="interrupted",
            error=(
                "the sync ended without recording its end (killed or crashed); "
                f"{len(files)} staged files ({'?' if rows is None else rows} rows) "
                "were never committed and are removed"
            ),
            full_refresh=bool(about.get("full_refresh", False)),
        )
        document = result.to_document()
        if about.get("kind"):
            document["kind"] = about["kind"]
        document["interrupted"] = {
            "found_at": datetime.now(UTC).isoformat(),
            "pid": about.get("pid"),
            "host": about.get("host"),
            "streams": about.get("streams"),
            "staged_files": [lake.key_of(p) for p in files],
            "staged_rows": rows,
            # its earlier checkpoints stay committed; state resumes after the last one
            "committed_some": last_committed == sync_id,
        }
        if not lake.exists(path):  # a sync that recorded its end keeps its own record
            lake.write_json(path, document)
        log.warning(
            "%s: sync %s was interrupted; removing its %d staged files (%s rows)",
            connection,
            sync_id,
            len(files),
            "?" if rows is None else rows,
        )
    return sorted(interrupted)


def _time_of(sync_id: str) -> datetime:
    """The start time a sync id carries (see ingestion.sync.new_sync_id), else now."""
    try:
        return datetime.strptime(sync_id.split("-")[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


def _last_written(lake: Lake, paths: list[str]) -> datetime:
    times = [info.mtime for info in lake.fs.get_file_info(paths) if info.mtime is not None]
    return max(times).astimezone(UTC) if times else datetime.now(UTC)


__all__ = [
    "ConnectionBusyError",
    "clear_running",
    "connection_lock",
    "mark_running",
    "record_interrupted",
]
