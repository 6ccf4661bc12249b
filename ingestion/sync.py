"""Run a connection's sync: its streams from the source into bronze, committed with state.

The source yields Arrow batches, rejects and checkpoints (ingestion.protocol). Each batch
is held to the stream's bronze schema (ingestion.drift), written to staged Parquet
(ingestion.bronze), and at each checkpoint the stream's files and state are committed
together (ingestion.commit). Overwrite streams commit once, at the end, replacing their
older files in the same commit. Counts are reconciled before anything is committed:
the source's own count over a range must equal the rows read, and every row read must
be in bronze or in the DLQ.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from airbyte_protocol.models import (
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    DestinationSyncMode,
    SyncMode,
)

from ingestion.bronze import METADATA_NAMES, BronzeWriter, committed_files
from ingestion.commit import CommitLog, StreamState
from ingestion.connections import Connection, StreamConfig
from ingestion.deletes import keys_gone, live_keys, tombstones
from ingestion.drift import SchemaConformer, SchemaDriftError
from ingestion.empty_refresh import guard_empty_refresh
from ingestion.prefetch import prefetched
from ingestion.protocol import (
    Checkpoint,
    KeySnapshot,
    Records,
    Rejected,
    Rejects,
    SourceError,
    SourceTotals,
    SourceUnavailableError,
)
from ingestion.records import StreamResult, SyncResult
from ingestion.reread import RereadCounter
from ingestion.running import clear_running, connection_lock, mark_running, record_interrupted
from ingestion.schedule import next_tick
from ingestion.sources import get_source
from lake import Lake

log = logging.getLogger(__name__)

# called after every batch: (stream, rows read so far, rows written so far)
Progress = Callable[[str, int, int], None]


def new_sync_id(now: datetime) -> str:
    """Sortable by time, unique across processes."""
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def select_streams(
    name: str, connection: Connection, streams: list[str] | None
) -> list[StreamConfig]:
    """The connection's streams that are named (all when None), in the connections file's
    order; a name the connection lacks is an error naming it and the streams there are."""
    known = [s.name for s in connection.streams]
    unknown = sorted(set(streams or []) - set(known))
    if unknown:
        raise SourceError(
            f"{name}: no stream named {', '.join(unknown)} (streams: {', '.join(known)})"
        )
    return [s for s in connection.streams if streams is None or s.name in streams]


def new_run_result(name: str, connection: Connection, full_refresh: bool = False) -> SyncResult:
    """The record of a run (sync or replay) starting now, under a new sync id."""
    started_at = datetime.now(UTC)
    return SyncResult(
        connection=name,
        source=connection.source,
        sync_id=new_sync_id(started_at),
        started_at=started_at,
        full_refresh=full_refresh,
    )


def configured_catalog(
    streams: Iterable[StreamConfig], full_refresh: bool
) -> ConfiguredAirbyteCatalog:
    """The connections file's streams as an Airbyte configured catalog."""
    configured = []
    for stream in streams:
        incremental = stream.sync_mode == "incremental"
        configured.append(
            ConfiguredAirbyteStream(
                stream=AirbyteStream(
                    name=stream.name,
                    json_schema={},
                    supported_sync_modes=[SyncMode.full_refresh, SyncMode.incremental],
                ),
                sync_mode=SyncMode.incremental if incremental else SyncMode.full_refresh,
                destination_sync_mode=DestinationSyncMode(
                    "overwrite" if full_refresh else stream.destination_sync_mode
                ),
                cursor_field=[stream.cursor_field] if stream.cursor_field else None,
                primary_key=[[k] for k in stream.primary_key] or None,
            )
        )
    return ConfiguredAirbyteCatalog(streams=configured)


def _numeric_sums(table: pa.Table) -> dict[str, Any]:
    sums = {}
    for column_field in table.schema:
        if column_field.name in METADATA_NAMES:
            continue
        kind = column_field.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            sums[column_field.name] = pc.sum(table.column(column_field.name)).as_py()
    return sums


def first_violation(stream: str, rejects: Rejects) -> str:
    """What a source found that does not fit the declared schema, and where."""
    row = rejects.table.slice(0, 1).to_pylist()[0]
    where = row["location"] + (f" line {row['line_number']}" if row["line_number"] else "")
    more = f" (and {rejects.num_rows - 1} more)" if rejects.num_rows > 1 else ""
    return f"{stream}: {where}: {row['reason']}{more} (schema_policy: fail)"


@dataclass
class StreamRun:
    """One stream during a sync: its writer, schema conformer, counts and pending state."""

    config: StreamConfig
    writer: BronzeWriter
    conformer: SchemaConformer
    result: StreamResult
    overwrite: bool
    reread: RereadCounter | None = None
    state: dict[str, Any] | None = None
    window_rows: int = 0
    window_sums: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def add(self, data: pa.Table | pa.RecordBatch) -> None:
        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        self.result.rows_read += table.num_rows
        self.window_rows += table.num_rows
        if self.reread is not None:
            self.reread.add(table)
        for column, value in _numeric_sums(table).items():
            if value is not None:
                self.window_sums[column] = (self.window_sums.get(column) or 0) + value
        good, rejects = self.conformer.conform(table)
        if good.num_rows:
            self.writer.write(good)
        if rejects is not None:
            self.writer.write_rejects(rejects)

    def reject(self, connection: str, event: Rejected) -> None:
        rejects = event.rejects
        if rejects.schema_violation and self.config.schema_policy == "fail":
            raise SchemaDriftError(first_violation(f"{connection}.{event.stream}", rejects))
        self.result.rows_read += event.rejects.num_rows
        self.window_rows += event.rejects.num_rows
        self.writer.write_rejects(event.rejects)

    def land_deletes(self, lake: Lake, connection: str, event: KeySnapshot) -> None:
        """Tombstones for the keys alive in bronze that the source no longer holds. They are
        staged like records and committed with the stream's next checkpoint."""
        key = self.config.primary_key
        if self.overwrite or not key or self.conformer.schema is None:
            return  # an overwrite replaces bronze: nothing stale is left to delete
        alive = live_keys(lake, connection, self.config.name, key)
        if alive is None:
            return
        gone = keys_gone(alive, event.keys, key)
        if gone.num_rows:
            self.writer.write(tombstones(gone, self.conformer.schema))
            self.result.rows_deleted += gone.num_rows

    def totals(self, connection: str, event: SourceTotals) -> None:
        # the source's rows include those it rejected itself; so does window_rows
        read_sums = {c: self.window_sums.get(c) for c in event.sums}
        self.result.check_source_window(
            connection, event.rows, self.window_rows, event.sums, read_sums
        )
        self.window_rows, self.window_sums = 0, {}

    def finish_counts(self) -> None:
        self.result.rows_written = self.writer.rows_written
        self.result.rows_reread = self.reread.count if self.reread is not None else None
        self.result.rows_dlq = self.writer.rows_dlq
        self.result.bytes_written = self.writer.bytes_written
        self.result.schema_events = self.conformer.event_documents()
        self.result.seconds = round(time.perf_counter() - self.started, 3)


class Sync:
    """One sync of one connection."""

    def __init__(
        self,
        lake: Lake,
        name: str,
        connection: Connection,
        streams: list[str] | None = None,
        full_refresh: bool = False,
        progress: Progress | None = None,
    ):
        self.lake, self.name, self.connection = lake, name, connection
        self.full_refresh, self.progress = full_refresh, progress
        self.selected = select_streams(name, connection, streams)
        self.result = new_run_result(name, connection, full_refresh)
        self.extracted_at, self.sync_id = self.result.started_at, self.result.sync_id
        self.commits = CommitLog(lake, name)
        self.runs: dict[str, StreamRun] = {}

    def _stream_run(self, stream: StreamConfig) -> StreamRun:
        previous = self.commits.streams.get(stream.name, StreamState())
        overwrite = self.full_refresh or stream.destination_sync_mode == "overwrite"
        writer = BronzeWriter(
            self.lake,
            self.name,
            self.name,
            stream.name,
            self.sync_id,
            self.extracted_at,
            stream.partition_by,
        )
        conformer = SchemaConformer(
            f"{self.name}.{stream.name}",
            # a full refresh may change the schema wholesale; otherwise hold to bronze's
            None if overwrite else previous.schema,
            stream.schema_policy,
            stream.required_fields,
            stream.primary_key,
        )
        schedule = stream.schedule or self.connection.schedule
        due = next_tick(schedule, self.extracted_at)
        result = StreamResult(
            stream=stream.name,
            sync_mode=stream.sync_mode,
            destination_sync_mode="overwrite" if overwrite else str(stream.destination_sync_mode),
            schedule=schedule,
            next_scheduled_at=due.isoformat() if due else None,
        )
        cursor = stream.cursor_field if stream.sync_mode == "incremental" else None
        reread = None if overwrite else RereadCounter.for_stream(cursor, previous.state)
        return StreamRun(stream, writer, conformer, result, overwrite, reread)

    def run(self) -> SyncResult:
        # a second sync of the connection fails here, before it touches anything
        with connection_lock(self.lake, self.name):
            return self._run_locked()

    def _run_locked(self) -> SyncResult:
        source = get_source(self.connection.source)
        marked = False
        try:
            config = source.parse_config(self.connection.source_config())
            self.commits.load()
            # what a killed sync left is recorded, then removed, before anything is staged
            record_interrupted(
                self.lake, self.name, self.connection.source, self.commits.last_sync_id
            )
            self.commits.discard_uncommitted()
            mark_running(self.lake, self.result, [s.name for s in self.selected])
            marked = True
            self.runs = {s.name: self._stream_run(s) for s in self.selected}
            # a full refresh starts every stream from scratch, and so does every read of a
            # full_refresh stream (its last state would say "all read": it would read nothing)
            states = {
                s.name: {}
                if self.full_refresh or s.sync_mode != "incremental"
                else self.commits.streams.get(s.name, StreamState()).state
                for s in self.selected
            }
            catalog = configured_catalog(self.selected, self.full_refresh)
            events = source.read(config, catalog, states)
            try:
                for event in prefetched(events, lambda e: isinstance(e, Checkpoint)):
                    self._handle(event)
            except SourceUnavailableError as exc:
                raise SourceUnavailableError(self._unavailable(exc), exc.stream) from exc
            self._commit_overwrites()
            self._commit_remaining()
            for run in self.runs.values():
                run.finish_counts()
                run.result.check_reconciles(self.name)
            self.result.status = "succeeded"
        except BaseException as exc:
            self.result.status, self.result.error = "failed", str(exc) or type(exc).__name__
            for run in self.runs.values():
                run.writer.abort()
                run.finish_counts()
            raise
        finally:
            self.result.streams = [r.result for r in self.runs.values()]
            self.result.finished_at = datetime.now(UTC)
            self._record()
            # the staging folder goes too (empty after a commit); its marker last, once
            # the run is recorded
            self._discard_quietly()
            if marked:
                clear_running(self.lake, self.name)
        return self.result

    def _unavailable(self, exc: SourceUnavailableError) -> str:
        """The source's words, what this sync kept, and what to do."""
        run = self.runs.get(exc.stream or "")
        if run is None:
            kept = "what was read after the last checkpoint was not committed"
        elif run.result.files:
            kept = "its rows up to the last checkpoint are committed, the rest is not"
        else:
            kept = "nothing was committed for it"
        return f"{exc}; {kept}; rerun `lakehouse sync {self.name}` when it is back"

    def _handle(self, event) -> None:
        run = self.runs.get(event.stream)
        if run is None:
            raise SourceError(
                f"{self.name}: the source sent stream {event.stream!r}, not asked for"
            )
        if isinstance(event, Records):
            run.add(event.data)
            if self.progress is not None:
                self.progress(event.stream, run.result.rows_read, run.writer.rows_written)
        elif isinstance(event, Rejected):
            run.reject(self.name, event)
        elif isinstance(event, SourceTotals):
            run.totals(self.name, event)
        elif isinstance(event, KeySnapshot):
            run.land_deletes(self.lake, self.name, event)
        elif isinstance(event, Checkpoint):
            run.state = event.state
            run.result.state = event.state
            if not run.overwrite:
                self._commit([run], deletes=[])

    def _commit(self, runs: list[StreamRun], deletes: list[str]) -> None:
        moves, states = [], {}
        for run in runs:
            staged = run.writer.take_staged()
            moves += staged
            run.result.files += [final for _, final in staged]
            states[run.config.name] = StreamState(
                state=run.state or {}, schema=run.conformer.schema
            )
        self.commits.commit(self.sync_id, states, moves, deletes)

    def _commit_overwrites(self) -> None:
        """Overwrite streams: the new copy and the removal of the old one, in one commit."""
        runs = [r for r in self.runs.values() if r.overwrite]
        if not runs:
            return
        deletes = []
        for run in list(runs):
            old = committed_files(self.lake, self.name, run.config.name)
            if not guard_empty_refresh(self.lake, self.name, run.result, old, self.full_refresh):
                runs.remove(run)  # its bronze stays as it was, and so does its state
                continue
            if run.conformer.schema is not None:
                run.writer.write_empty(run.conformer.schema)
            run.result.files_replaced = len(old)
            deletes += old
            if run.state is None:
                run.state = {}
        if runs:
            self._commit(runs, deletes)

    def _commit_remaining(self) -> None:
        """Append streams whose source sent records after its last checkpoint (or none at
        all): commit them with the state they have."""
        runs = [r for r in self.runs.values() if not r.overwrite and r.writer.has_uncommitted()]
        for run in runs:
            if run.state is None:
                run.state = self.commits.streams.get(run.config.name, StreamState()).state
        if runs:
            self._commit(runs, deletes=[])

    def _record(self) -> None:
        self.lake.write_json(
            self.lake.path("_ops", "runs", self.name, f"{self.sync_id}.json"),
            self.result.to_document(),
        )
        events = [
            {"stream": r.result.stream, **e}
            for r in self.runs.values()
            for e in r.result.schema_events
        ]
        if events:
            self.lake.write_json(
                self.lake.path("_ops", "events", "schema", self.name, f"{self.sync_id}.json"),
                {"connection": self.name, "sync_id": self.sync_id, "events": events},
            )

    def _discard_quietly(self) -> None:
        try:
            # a commit whose point was written is finished, not discarded
            self.commits.load()
            self.commits.discard_uncommitted(after_failure=True)
        except Exception:  # the next sync cleans up; the original error matters more
            log.warning("%s: could not remove staged files of sync %s", self.name, self.sync_id)


def sync_connection(
    lake: Lake,
    name: str,
    connection: Connection,
    streams: list[str] | None = None,
    full_refresh: bool = False,
    progress: Progress | None = None,
) -> SyncResult:
    """Sync the named streams (default: all) of one connection; records the run under _ops."""
    return Sync(lake, name, connection, streams, full_refresh, progress).run()


__all__ = [
    "Progress",
    "Sync",
    "configured_catalog",
    "new_run_result",
    "new_sync_id",
    "select_streams",
    "sync_connection",
]
