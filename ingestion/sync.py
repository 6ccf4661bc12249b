"""Run a connection's sync: every stream from its source into bronze, then the run record.

Order of commits: data files first, then the older files they replace, then the run
record and state under `_ops`. A record whose counts do not reconcile fails the sync.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from ingestion.bronze import BronzeWriter
from ingestion.connections import Connection, StreamConfig
from ingestion.records import StreamResult, SyncResult
from ingestion.sources import StreamRead
from ingestion.sources.files import read_files
from ingestion.sources.sql import read_table
from lake import Lake

log = logging.getLogger(__name__)


def new_sync_id(now: datetime) -> str:
    """Sortable by time, unique across processes."""
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def open_stream(connection: Connection, stream: StreamConfig) -> AbstractContextManager[StreamRead]:
    if connection.source == "sql":
        return read_table(connection.sql_config(), stream)
    return read_files(connection.files_config(), stream)


def _counting(batches, counter: list[int]) -> Iterator:
    for batch in batches:
        counter[0] += batch.num_rows
        yield batch


def sync_stream(
    lake: Lake,
    name: str,
    connection: Connection,
    stream: StreamConfig,
    sync_id: str,
    extracted_at: datetime,
) -> StreamResult:
    started = time.perf_counter()
    writer = BronzeWriter(lake, name, stream.name, sync_id, extracted_at)
    read = [0]
    with open_stream(connection, stream) as source:
        writer.write(_counting(source.batches, read), source.schema)
        writer.write_rejects(source.rejects)
        rejected = sum(r.num_rows for r in source.rejects)
    writer.replace_previous()
    result = StreamResult(
        stream=stream.name,
        rows_read=read[0] + rejected,
        rows_written=writer.rows_written,
        rows_dlq=writer.rows_dlq,
        bytes_written=writer.bytes_written(),
        files=[f.removeprefix(lake.path()).lstrip("/") for f in writer.files],
        seconds=round(time.perf_counter() - started, 3),
    )
    if source.source_rows is not None and source.source_rows != result.rows_read:
        raise RuntimeError(
            f"{name}.{stream.name}: the source counted {source.source_rows} rows "
            f"but the sync read {result.rows_read}"
        )
    result.check_reconciles(name)
    return result


def sync_connection(
    lake: Lake, name: str, connection: Connection, streams: list[str] | None = None
) -> SyncResult:
    """Sync the named streams (default: all) of one connection; records the run under _ops."""
    extracted_at = datetime.now(UTC)
    sync_id = new_sync_id(extracted_at)
    result = SyncResult(
        connection=name, source=connection.source, sync_id=sync_id, started_at=extracted_at
    )
    selected = [s for s in connection.streams if streams is None or s.name in streams]
    try:
        for stream in selected:
            log.info("sync %s.%s (%s)", name, stream.name, sync_id)
            result.streams.append(
                sync_stream(lake, name, connection, stream, sync_id, extracted_at)
            )
        result.status = "succeeded"
    except Exception as exc:
        result.status, result.error = "failed", str(exc)
        raise
    finally:
        result.finished_at = datetime.now(UTC)
        lake.write_json(lake.path("_ops", "runs", name, f"{sync_id}.json"), result.to_document())
        if result.status == "succeeded":
            lake.write_json(
                lake.path("_ops", "state", f"{name}.json"),
                {
                    "connection": name,
                    "last_sync_id": sync_id,
                    "synced_at": result.finished_at.isoformat(),
                },
            )
    return result
