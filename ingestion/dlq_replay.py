"""Replay a connection's dead letters after a fix: land what now passes, keep the rest.

A replay is a sync whose source is the DLQ. Under the connection's lock (no sync runs
meanwhile), per stream:

1. the dead letters are parsed again the way the stream's source parses records
   (ingestion.dlq_parse), then go through the same checks as a sync's records: a files
   stream's declared `schema:`, then the bronze schema, the primary key and the
   `required` fields (ingestion.drift, with the connections file as it is now);
2. a record of an append_dedup stream whose key bronze already holds in a version
   extracted after the dead letter was, stays in the DLQ ("superseded"): landing it
   would make staging take the older version for the newer;
3. what passes is written to bronze like a sync's records (the replay's id as `_sync_id`,
   its time as `_extracted_at`, so incremental staging picks it up), what still fails is
   written to the DLQ again with its new reason (and its original location and line);
4. one commit (ingestion.commit) moves the new files into bronze and the DLQ and the
   replayed DLQ files to `_ops/dlq_replayed/`. A replay killed before that commit left
   only staged files (removed by the next run, the DLQ untouched); killed after it, the
   next run finishes the moves. Either way a rerun lands nothing twice.

The replay is recorded like a sync, under `_ops/runs/<connection>/<replay id>.json`, with
`"kind": "replay"`: rows_read are the dead letters taken, rows_written those landed,
rows_dlq those still dead.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ingestion.bronze import BronzeWriter
from ingestion.commit import CommitLog, StreamState
from ingestion.connections import Connection, StreamConfig
from ingestion.dlq import dlq_files, read_dead_letters, replayed_key
from ingestion.dlq_parse import ROW, rejects_of, reparse
from ingestion.drift import LOCATION_COLUMN, SchemaConformer
from ingestion.records import StreamResult, SyncResult
from ingestion.running import clear_running, connection_lock, mark_running, record_interrupted
from ingestion.sources.files import FilesConfig
from ingestion.sync import new_run_result, select_streams
from lake import Lake

log = logging.getLogger(__name__)
EXTRACTED = "_extracted_at"
REPLAY_KIND = "replay"


class StreamReplay:
    """One stream's dead letters through parsing, checks and the bronze writer."""

    def __init__(self, replay: DlqReplay, stream: StreamConfig, previous: StreamState):
        self.replay, self.config, self.previous = replay, stream, previous
        name = replay.name
        self.writer = BronzeWriter(
            replay.lake,
            name,
            name,
            stream.name,
            replay.replay_id,
            replay.started_at,
            stream.partition_by,
        )
        self.conformer = SchemaConformer(
            f"{name}.{stream.name}",
            previous.schema,
            "dlq",  # a replay never stops on a bad record: it stays where it is
            stream.required_fields,
            stream.primary_key,
        )
        self.result = StreamResult(
            stream=stream.name,
            sync_mode=stream.sync_mode,
            destination_sync_mode=str(stream.destination_sync_mode),
        )
        self.files: list[str] = []

    def run(self) -> None:
        lake = self.replay.lake
        self.files = dlq_files(lake, self.replay.name, self.config.name)
        letters = read_dead_letters(lake, self.files)
        self.result.rows_read = letters.num_rows
        if not letters.num_rows:
            return
        parsed = reparse(self.replay.connection, self.config, letters)
        for rejects in parsed.rejects:
            self.writer.write_rejects(rejects)
        declared = self._declared_schema()
        newest = self._newest_versions()
        for table in parsed.tables:
            table = self._with_location(table, letters)
            if declared is not None:  # as the files source applies it
                table = self._checked(SchemaConformer(self.config.name, declared), table, letters)
            table = self._not_superseded(table, letters, newest)
            good = self._checked(self.conformer, table, letters)
            if good.num_rows:
                self.writer.write(good.drop_columns([ROW]))

    def _checked(self, conformer: SchemaConformer, table: pa.Table, letters: pa.Table) -> pa.Table:
        """The rows that pass the conformer's checks, still with ROW; the others go to the
        DLQ again as their dead letter was (raw text, location, line) with the new reason."""
        good, rejected, reasons = conform_tracking_rows(conformer, table)
        if rejected:
            self.writer.write_rejects(rejects_of(letters, rejected, reasons))
        return good

    def _with_location(self, table: pa.Table, letters: pa.Table) -> pa.Table:
        """The file a files stream's record came from, as a sync lands it (the dead letter
        keeps it as its location)."""
        schema = self.previous.schema
        if schema is None or LOCATION_COLUMN not in schema.names:
            return table
        if LOCATION_COLUMN in table.column_names:
            table = table.drop_columns([LOCATION_COLUMN])
        locations = letters.column("location").take(table.column(ROW))
        return table.append_column(LOCATION_COLUMN, locations)

    def _declared_schema(self) -> pa.Schema | None:
        """A files stream's declared `schema:` (None for other sources)."""
        if self.replay.connection.source != "files":
            return None
        config = FilesConfig.model_validate(self.replay.connection.source_config())
        return config.options(self.config.name).declared_schema()

    def _newest_versions(self) -> pa.Table | None:
        """The newest extraction time of each key in bronze (append_dedup streams)."""
        key = self.config.primary_key
        if self.config.destination_sync_mode != "append_dedup" or not key:
            return None
        lake = self.replay.lake
        files = [
            i.path
            for i in lake.list_files(lake.bronze(self.replay.name, self.config.name), ".parquet")
        ]
        if not files:
            return None
        versions = ds.dataset(files, filesystem=lake.fs, format="parquet").to_table(
            columns=[*key, EXTRACTED]
        )
        newest = versions.group_by(key).aggregate([(EXTRACTED, "max")])
        return newest.rename_columns({f"{EXTRACTED}_max": "_newest_in_bronze"})

    def _not_superseded(
        self, table: pa.Table, letters: pa.Table, newest: pa.Table | None
    ) -> pa.Table:
        key = self.config.primary_key
        if newest is None or not all(k in table.column_names for k in key):
            return table
        probe = table.select([*key, ROW])
        try:
            probe = probe.cast(
                pa.schema([*(newest.schema.field(k) for k in key), probe.schema.field(ROW)])
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return table  # a key that does not cast: the bronze checks reject the record
        joined = probe.join(newest, key, join_type="left outer").sort_by(ROW)
        extracted = letters.column(EXTRACTED).take(joined.column(ROW))
        later = pc.fill_null(pc.greater(joined.column("_newest_in_bronze"), extracted), False)
        if not pc.any(later).as_py():
            return table
        superseded_rows = joined.column(ROW).filter(later).to_pylist()
        newest_at = joined.column("_newest_in_bronze").filter(later).to_pylist()
        was = letters.column(EXTRACTED).take(pa.array(superseded_rows, pa.int64())).to_pylist()
        reasons = [
            f"superseded: bronze holds a version of this key extracted at {at}, after this "
            f"record (extracted at {then}); not landed, so staging keeps the newer one"
            for at, then in zip(newest_at, was, strict=True)
        ]
        self.writer.write_rejects(rejects_of(letters, superseded_rows, reasons))
        keep = pc.invert(pc.is_in(table.column(ROW), pa.array(superseded_rows, pa.int64())))
        return table.filter(keep)

    def finish_counts(self) -> None:
        self.result.rows_written = self.writer.rows_written
        self.result.rows_dlq = self.writer.rows_dlq
        self.result.bytes_written = self.writer.bytes_written
        self.result.schema_events = self.conformer.event_documents()


class DlqReplay:
    """One replay of a connection's dead letters (some streams, or all)."""

    def __init__(
        self, lake: Lake, name: str, connection: Connection, streams: list[str] | None = None
    ):
        self.lake, self.name, self.connection = lake, name, connection
        self.selected = select_streams(name, connection, streams)
        self.result = new_run_result(name, connection)
        self.started_at, self.replay_id = self.result.started_at, self.result.sync_id
        self.commits = CommitLog(lake, name)
        self.streams: list[StreamReplay] = []

    def run(self) -> SyncResult:
        with connection_lock(self.lake, self.name):
            return self._run_locked()

    def _run_locked(self) -> SyncResult:
        marked = False
        try:
            self.commits.load()  # finishes a commit a killed sync or replay began
            record_interrupted(
                self.lake, self.name, self.connection.source, self.commits.last_sync_id
            )
            self.commits.discard_uncommitted()
            mark_running(self.lake, self.result, [s.name for s in self.selected], kind=REPLAY_KIND)
            marked = True
            for stream in self.selected:
                previous = self.commits.streams.get(stream.name, StreamState())
                replay = StreamReplay(self, stream, previous)
                self.streams.append(replay)
                replay.run()
            self._commit()
            for replay in self.streams:
                replay.finish_counts()
                replay.result.check_reconciles(self.name)
            self.result.status = "succeeded"
        except BaseException as exc:
            self.result.status, self.result.error = "failed", str(exc) or type(exc).__name__
            for replay in self.streams:
                replay.writer.abort()
                replay.finish_counts()
            raise
        finally:
            self.result.streams = [r.result for r in self.streams if r.result.rows_read]
            self.result.finished_at = datetime.now(UTC)
            self._record()
            try:
                self.commits.load()
                self.commits.discard_uncommitted(after_failure=True)
            except Exception:  # the next run cleans up; the original error matters more
                log.warning("%s: could not remove staged files of %s", self.name, self.replay_id)
            if marked:
                clear_running(self.lake, self.name)
        return self.result

    def _commit(self) -> None:
        """The new bronze and DLQ files in, the replayed DLQ files out: one commit."""
        moves, states = [], {}
        for replay in self.streams:
            if not replay.files:
                continue
            staged = replay.writer.take_staged()
            replay.result.files = [final for _, final in staged]
            moves += staged
            moves += [(key, replayed_key(key)) for key in replay.files]
            # the source's position is the sync's; the bronze schema may have evolved
            states[replay.config.name] = StreamState(
                state=replay.previous.state, schema=replay.conformer.schema
            )
        if moves:
            self.commits.commit(self.replay_id, states, moves, deletes=[])

    def _record(self) -> None:
        document = self.result.to_document()
        document["kind"] = REPLAY_KIND
        document["replayed_files"] = {
            r.config.name: [replayed_key(k) for k in r.files] for r in self.streams if r.files
        }
        self.lake.write_json(
            self.lake.path("_ops", "runs", self.name, f"{self.replay_id}.json"), document
        )


def conform_tracking_rows(
    conformer: SchemaConformer, table: pa.Table
) -> tuple[pa.Table, list[int], list[str]]:
    """Conform a table that carries ROW: the rows that fit (ROW kept), and the ROW and
    reason of each that does not. ROW rides through as a column of the expected schema
    for the call only, so it is neither a new column nor in the schema kept afterwards."""
    if conformer.schema is not None:
        conformer.schema = conformer.schema.append(pa.field(ROW, pa.int64()))
    try:
        good, bad = conformer.conform(table)
    finally:
        if conformer.schema is not None and ROW in conformer.schema.names:
            conformer.schema = conformer.schema.remove(conformer.schema.get_field_index(ROW))
    if bad is None:
        return good, [], []
    kept = set(good.column(ROW).to_pylist())
    rejected = [row for row in table.column(ROW).to_pylist() if row not in kept]
    return good, rejected, bad.table.column("reason").to_pylist()


def replay_dead_letters(
    lake: Lake, name: str, connection: Connection, streams: list[str] | None = None
) -> SyncResult:
    """Replay the dead letters of the named streams (default: all); recorded under _ops."""
    return DlqReplay(lake, name, connection, streams).run()


__all__ = ["REPLAY_KIND", "DlqReplay", "conform_tracking_rows", "replay_dead_letters"]
