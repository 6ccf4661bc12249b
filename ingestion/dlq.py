"""Read the dead-letter queue: what a connection's streams rejected, and why.

Dead letters live in `bronze/_dlq/<connection>/<stream>/<partition>/part-<sync_id>-<n>.parquet`
(ingestion.bronze, DLQ_SCHEMA). A replay (ingestion.dlq_replay) moves the files it took
to `_ops/dlq_replayed/<connection>/<stream>/<partition>/`, the same names, so the DLQ holds
only what is still waiting and the history stays in the lake.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ingestion.bronze import DLQ_SCHEMA
from lake import Lake

REPLAYED = ("_ops", "dlq_replayed")
FILE_COLUMN = "dlq_file"  # the key of the DLQ file a dead letter is in
# the words of a reason before its particulars (a value, a size, a byte offset), so that
# reasons group by kind; longer prefixes first
REASON_KINDS = (
    ("invalid JSON", "invalid JSON"),
    ("invalid CSV row", "invalid CSV row"),
    ("invalid UTF-8", "invalid UTF-8"),
    ("record of ", "record over max_record_bytes"),
    ("superseded", "superseded by a later version"),
    ("cannot replay", "cannot replay"),
)


def reason_kind(reason: str | None) -> str:
    """`column 'qty': 'abc' is not a int64` -> `column 'qty': not a int64`; the first words
    of the other reasons (see REASON_KINDS)."""
    text = reason or ""
    for prefix, kind in REASON_KINDS:
        if text.startswith(prefix):
            return kind
    if text.startswith("column ") and " is not a " in text:
        column = text.split(":", 1)[0]
        return f"{column}: not a {text.rsplit(' is not a ', 1)[1]}"
    return text


def dlq_files(lake: Lake, connection: str, stream: str) -> list[str]:
    """Keys of the stream's dead-letter files, oldest sync first."""
    return [lake.key_of(i.path) for i in lake.list_files(lake.dlq(connection, stream), ".parquet")]


def replayed_key(dlq_key: str) -> str:
    """Where a replay moves a DLQ file: bronze/_dlq/<c>/<s>/<p>/<f> -> _ops/dlq_replayed/..."""
    parts = dlq_key.split("/")
    if parts[:2] != ["bronze", "_dlq"]:
        raise ValueError(f"{dlq_key} is not a dead-letter file")
    return "/".join([*REPLAYED, *parts[2:]])


def read_dead_letters(lake: Lake, keys: list[str]) -> pa.Table:
    """The dead letters of the given files, in file order, with the file's key."""
    tables = []
    for key in keys:
        table = ds.dataset(lake.path(key), filesystem=lake.fs, format="parquet").to_table()
        table = table.select(DLQ_SCHEMA.names).cast(DLQ_SCHEMA)
        tables.append(table.append_column(FILE_COLUMN, pa.repeat(pa.scalar(key), len(table))))
    if not tables:
        return DLQ_SCHEMA.empty_table().append_column(FILE_COLUMN, pa.array([], pa.string()))
    return pa.concat_tables(tables)


@dataclass
class StreamDeadLetters:
    """What the DLQ holds for one stream."""

    stream: str
    records: int = 0
    files: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # reason kind: records
    oldest: object = None  # extraction time of the oldest dead letter
    newest: object = None
    replayed_files: int = 0  # files earlier replays moved out of the DLQ


def summarize(lake: Lake, connection: str, streams: list[str]) -> list[StreamDeadLetters]:
    """Per stream: dead letters, their reasons by kind, oldest and newest."""
    summaries = []
    for stream in streams:
        keys = dlq_files(lake, connection, stream)
        table = read_dead_letters(lake, keys)
        summary = StreamDeadLetters(stream, table.num_rows, len(keys))
        summary.replayed_files = len(
            lake.list_files(lake.path(*REPLAYED, connection, stream), ".parquet")
        )
        if table.num_rows:
            kinds: dict[str, int] = {}
            for reason in table.column("reason").to_pylist():
                kind = reason_kind(reason)
                kinds[kind] = kinds.get(kind, 0) + 1
            summary.reasons = dict(sorted(kinds.items(), key=lambda item: -item[1]))
            summary.oldest = pc.min(table.column("_extracted_at")).as_py()
            summary.newest = pc.max(table.column("_extracted_at")).as_py()
        summaries.append(summary)
    return summaries


__all__ = [
    "FILE_COLUMN",
    "REPLAYED",
    "StreamDeadLetters",
    "dlq_files",
    "read_dead_letters",
    "reason_kind",
    "replayed_key",
    "summarize",
]
