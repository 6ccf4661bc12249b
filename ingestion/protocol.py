"""The source contract: spec, check, discover and read, as in the Airbyte protocol.

A source is used two ways. In-process, the sync engine calls `read` and gets Arrow
record batches, rejected records and state checkpoints: no record goes through Python
one by one. As a command-line connector (`python -m ingestion.sources.<name> ...`,
see `ingestion.airbyte_cli`), the same calls are turned into Airbyte protocol messages
on stdout, so the source also runs inside Airbyte.

State is per stream and opaque to the engine: a source reads it back exactly as it
emitted it in its last committed `Checkpoint`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

import pyarrow as pa
from airbyte_protocol.models import (
    AirbyteCatalog,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    ConnectorSpecification,
    DestinationSyncMode,
    SyncMode,
)
from pydantic import BaseModel

# Columns a source may add to its batches; the engine fills them when it does not.
OP_COLUMN = "_op"  # CDC operation: r (snapshot read), c (insert), u (update), d (delete)
POSITION_COLUMN = "_position"  # a sortable source position (the LSN for CDC)
SOURCE_METADATA_FIELDS = [pa.field(OP_COLUMN, pa.string()), pa.field(POSITION_COLUMN, pa.int64())]


class SourceError(RuntimeError):
    """The source cannot be reached, is misconfigured, or returned something unusable.
    The message says which stream and what to do."""


class SourceUnavailableError(SourceError):
    """The source went away or kept failing during a read (a database that stopped, an API
    that stayed down, a connector that was killed): nothing was wrong with the configuration
    or the data, and a rerun later should succeed. The command exits 1, not 2.
    `stream`: the stream being read when it happened, when the source knows."""

    def __init__(self, message: str, stream: str | None = None):
        super().__init__(message)
        self.stream = stream


class Rejects:
    """Records a source could not parse or validate: the raw payload, the reason and where
    it was (a file, an API page, a table), with the line number when there is one.

    `schema_violation`: the records parsed but do not fit a declared schema (a type or a
    required field). Those follow the stream's `schema_policy` (under `fail` the engine
    stops the sync); records that do not parse at all always go to the DLQ."""

    def __init__(
        self,
        raw: Sequence[str],
        reasons: Sequence[str],
        locations: Sequence[str] | str,
        line_numbers: Sequence[int | None] | None = None,
        *,
        schema_violation: bool = False,
    ):
        self.schema_violation = schema_violation
        n = len(raw)
        if isinstance(locations, str):
            locations = [locations] * n
        self.table = pa.table(
            {
                "raw": pa.array(raw, pa.string()),
                "reason": pa.array(reasons, pa.string()),
                "location": pa.array(locations, pa.string()),
                "line_number": pa.array(line_numbers or [None] * n, pa.int64()),
            }
        )

    @property
    def num_rows(self) -> int:
        return self.table.num_rows


@dataclass(frozen=True)
class Records:
    """A batch of a stream's records."""

    stream: str
    data: pa.RecordBatch | pa.Table


@dataclass(frozen=True)
class Rejected:
    """Records of a stream that go to the dead-letter queue."""

    stream: str
    rejects: Rejects


@dataclass(frozen=True)
class Checkpoint:
    """The stream's state once every record emitted before it is committed. The engine
    commits data and state together at each checkpoint."""

    stream: str
    state: dict[str, Any]


@dataclass(frozen=True)
class SourceTotals:
    """What the source itself counts over the range just read (for reconciliation): the
    rows, and the sum of some numeric columns."""

    stream: str
    rows: int
    sums: dict[str, int | float | Decimal | None] = field(default_factory=dict)


@dataclass(frozen=True)
class KeySnapshot:
    """Every primary key the source holds now, read in the same snapshot as the records
    before it. The engine compares it with the keys alive in bronze and lands a tombstone
    for each key gone from the source (hard deletes a cursor cannot see). In-process only:
    the Airbyte protocol has no such message, so the command-line connector drops it."""

    stream: str
    keys: pa.Table


ReadEvent = Records | Rejected | Checkpoint | SourceTotals | KeySnapshot

ConfigT = TypeVar("ConfigT", bound=BaseModel)


class Source(ABC, Generic[ConfigT]):
    """One kind of source system. Subclasses set `name` and `config_model` and implement
    check, discover and read."""

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    # the source decides the cursor itself (files seen, LSN) instead of a cursor_field
    source_defined_cursor: ClassVar[bool] = False
    supports_incremental: ClassVar[bool] = True

    def parse_config(self, raw: Mapping[str, Any]) -> ConfigT:
        return self.config_model.model_validate(raw)  # type: ignore[return-value]

    def spec(self) -> ConnectorSpecification:
        return ConnectorSpecification(
            documentationUrl=None,
            connectionSpecification=self.config_model.model_json_schema(),
            supportsIncremental=self.supports_incremental,
            supported_destination_sync_modes=[
                DestinationSyncMode.overwrite,
                DestinationSyncMode.append,
                DestinationSyncMode.append_dedup,
            ],
        )

    @abstractmethod
    def check(self, config: ConfigT) -> None:
        """Raise SourceError saying what is wrong, or return when the source is usable."""

    @abstractmethod
    def discover(self, config: ConfigT) -> AirbyteCatalog:
        """The streams the source offers, with JSON schemas (see `json_schema_of`)."""

    @abstractmethod
    def read(
        self,
        config: ConfigT,
        catalog: ConfiguredAirbyteCatalog,
        state: Mapping[str, dict[str, Any]],
    ) -> Iterator[ReadEvent]:
        """Read the configured streams, resuming each from its state (absent: from the
        start). Emit a Checkpoint for a stream after its records, at least at its end.

        The engine commits every checkpoint (data first, then state) before it asks for
        the next event, so a crash resumes from the last checkpoint. The command-line
        path only prints the state; a source that must acknowledge positions upstream (a
        replication slot) does so for the state it is given at the start of a read."""


def is_incremental(stream: ConfiguredAirbyteStream) -> bool:
    return stream.sync_mode == SyncMode.incremental


def cursor_of(stream: ConfiguredAirbyteStream) -> str | None:
    return stream.cursor_field[0] if stream.cursor_field else None


# -- Arrow types as JSON schema (discover) -----------------------------------------------
def _json_type(arrow_type: pa.DataType) -> dict[str, Any]:
    if pa.types.is_boolean(arrow_type):
        return {"type": ["null", "boolean"]}
    if pa.types.is_integer(arrow_type):
        return {"type": ["null", "integer"]}
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return {"type": ["null", "number"]}
    if pa.types.is_timestamp(arrow_type):
        airbyte = "timestamp_with_timezone" if arrow_type.tz else "timestamp_without_timezone"
        return {"type": ["null", "string"], "format": "date-time", "airbyte_type": airbyte}
    if pa.types.is_date(arrow_type):
        return {"type": ["null", "string"], "format": "date"}
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return {"type": ["null", "array"], "items": _json_type(arrow_type.value_type)}
    if pa.types.is_struct(arrow_type):
        return {
            "type": ["null", "object"],
            "properties": {f.name: _json_type(f.type) for f in arrow_type},
        }
    return {"type": ["null", "string"]}


def json_schema_of(schema: pa.Schema) -> dict[str, Any]:
    """The JSON schema Airbyte expects in a catalog, for an Arrow schema."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {f.name: _json_type(f.type) for f in schema},
    }


__all__ = [
    "OP_COLUMN",
    "POSITION_COLUMN",
    "SOURCE_METADATA_FIELDS",
    "Checkpoint",
    "KeySnapshot",
    "ReadEvent",
    "Records",
    "Rejected",
    "Rejects",
    "Source",
    "SourceError",
    "SourceTotals",
    "SourceUnavailableError",
    "cursor_of",
    "is_incremental",
    "json_schema_of",
]
