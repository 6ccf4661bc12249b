"""PostgreSQL change data capture through one logical replication slot (pgoutput).

One slot and one publication per connection, shared by all its tables. pgoutput is built
into PostgreSQL (10+): nothing to install on the server, which needs `wal_level = logical`
and a user with the REPLICATION attribute (or a superuser).

First sync (no slot yet):
  1. create the publication, or add the tables it lacks;
  2. on a replication connection, `CREATE_REPLICATION_SLOT ... LOGICAL pgoutput (SNAPSHOT
     'export')`: the slot starts at its consistent point P and the server exports the
     snapshot that matches P exactly. That connection stays open and idle (the snapshot
     lives as long as it does not run another command);
  3. an ADBC connection imports the snapshot (`SET TRANSACTION ISOLATION LEVEL REPEATABLE
     READ; SET TRANSACTION SNAPSHOT '...'` as the first statements of its transaction) and
     reads every table as Arrow batches (binary COPY, columnar, no Python per row), with its
     COUNT(*) in the same snapshot. Rows get `_op = 'r'` and `_position = P`.
  Every transaction committed after P is in the slot, every one before is in the snapshot:
  no gap, no duplicate.

A stream added later (the slot exists, the stream has no state) gets its own snapshot
through a TEMPORARY slot created the same way (consistent point P2); the main slot's
changes of that table committed at or before P2 are skipped.

Changes: at the start of a read the slot is advanced to the smallest committed LSN of the
given states (the engine committed them, so WAL before it can go), then the pending changes
up to `pg_current_wal_lsn()` are peeked once through a WITH HOLD server-side cursor
(bounded client memory; the server materialises the result, spilling to disk, and keeps no
transaction open while the engine commits) and decoded (`ingestion.sources.pgoutput`).
Within a transaction only the last change per primary key is kept; every row of a transaction gets
`_position` = its commit's end LSN and `_op` c/u/d. A delete is a tombstone: the key
columns set, the other columns null. Positions are LSNs as int64, `(hi << 32) + lo`; a
stream's state is `{"lsn": <end LSN of the last transaction processed>, "snapshot_done":
true}` and transactions ending at or before it are skipped.

Values arrive as text and are converted to the table's Arrow schema (the schema of the
snapshot batches) per batch with Arrow casts; the session runs with TimeZone UTC, ISO
dates and ISO 8601 intervals so the text is unambiguous. Columns of types that ADBC would
hand over in PostgreSQL's binary format (inet, xml, bit, timetz, money, ranges, ...) are
read as text in the snapshot too, so both paths agree.

Limitations: an UPDATE that does not change a TOASTed value (large text/bytea/jsonb) does
not send it; such a value comes out null, unless the table has REPLICA IDENTITY FULL (the
old row then has it). TRUNCATE is not replicated (logged as a warning). Change batches
have the table's columns as of the start of the read: an added column appears from then
on (earlier rows do not get it back without a resync), a dropped one is left out. A
transaction is collapsed in memory (its distinct keys), so a single huge transaction costs
memory in proportion.
When the published tables are idle while others are busy, the slot's position only moves
with their own transactions, so the server keeps the WAL in between.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from airbyte_protocol.models import (
    AirbyteCatalog,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    SyncMode,
)
from psycopg import errors, pq
from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.redaction import redact
from ingestion.protocol import (
    SOURCE_METADATA_FIELDS,
    Checkpoint,
    ReadEvent,
    Records,
    Source,
    SourceError,
    SourceTotals,
    is_incremental,
    json_schema_of,
)
from ingestion.sources import pgoutput
from ingestion.sources.connection_loss import guard_reads
from ingestion.sources.pgoutput import UNCHANGED_TOAST, lsn_to_int, lsn_to_text
from ingestion.sources.sql import (
    IDENTIFIER_PATTERN,
    SqlStreamOptions,
    connect,
    list_tables,
    normalize,
    normalized_schema,
    primary_key,
    quoted,
    table_schema,
)

log = logging.getLogger(__name__)

# slot names: lower case letters, digits and underscores; short enough for a suffix
SLOT_PATTERN = r"^[a-z_][a-z0-9_]{0,47}$"
# text output that converts to Arrow without ambiguity
SESSION_OPTIONS = (
    "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 "
    "-c bytea_output=hex -c extra_float_digits=1"
)
# PostgreSQL types read natively (ADBC's Arrow type, converted back from pgoutput's text);
# every other type is read as text on both paths
NATIVE_TYPES = {
    "int2",
    "int4",
    "int8",
    "oid",
    "float4",
    "float8",
    "numeric",
    "text",
    "varchar",
    "bpchar",
    "name",
    "bool",
    "date",
    "timestamp",
    "timestamptz",
    "time",
    "interval",
    "bytea",
    "uuid",
    "json",
    "jsonb",
}
NATIVE_ARRAY_ELEMENTS = {"int2", "int4", "int8", "float4", "float8", "text", "varchar", "bool"}
ROW_MESSAGES = frozenset(b"IUD")  # pgoutput's insert, update and delete message types
FETCH_MESSAGES = 5_000  # pgoutput messages per round trip of the server-side cursor


class CdcStreamOptions(SqlStreamOptions):
    """As for the sql source: the table (default: the stream's name) and the numeric columns
    whose sums the snapshot reports for reconciliation."""


class PostgresCdcConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dsn: str = Field(description="postgresql://user:pass@host:port/db")
    schema_name: str = Field(default="public", pattern=IDENTIFIER_PATTERN)
    slot_name: str = Field(default="lakehouse", pattern=SLOT_PATTERN)
    publication_name: str = Field(default="lakehouse", pattern=IDENTIFIER_PATTERN)
    batch_rows: int = Field(default=100_000, gt=0)
    checkpoint_changes: int = Field(
        default=100_000,
        gt=0,
        description="emit checkpoints about every this many changes (at transaction ends)",
    )
    streams: list[CdcStreamOptions] = Field(default_factory=list)

    @field_validator("dsn")
    @classmethod
    def _postgresql(cls, value: str) -> str:
        if not value.startswith("postgresql://"):
            raise ValueError(f"{redact(value)!r} is not a postgresql:// DSN")
        return value

    def table(self, stream: str) -> str:
        for options in self.streams:
            if options.name == stream:
                return options.table or stream
        return stream


# -- connections and errors ------------------------------------------------------------------
def _reason(exc: BaseException) -> str:
    """The driver's message on one line, without credentials (libpq may quote the DSN)."""
    return redact(" ".join(str(exc).split()) or type(exc).__name__)


@contextmanager
def _pg(dsn: str, *, replication: bool = False) -> Iterator[psycopg.Connection]:
    """A psycopg connection (autocommit, UTC); a replication connection when asked."""
    kwargs: dict[str, Any] = {"autocommit": True, "options": SESSION_OPTIONS}
    if "connect_timeout" not in dsn:
        kwargs["connect_timeout"] = 15
    if replication:
        kwargs["replication"] = "database"
    try:
        conn = psycopg.connect(dsn, **kwargs)
    except psycopg.Error as exc:
        what = "a replication connection to" if replication else "connect to"
        hint = (
            " (pg_hba.conf must allow replication connections for this user)" if replication else ""
        )
        raise SourceError(f"cannot open {what} {redact(dsn)}{hint}: {_reason(exc)}") from exc
    try:
        yield conn
    finally:
        with suppress(Exception):
            conn.close()


@contextmanager
def _adbc(dsn: str) -> Iterator[Any]:
    """`sql.connect`, but closing a connection whose server is gone raises nothing (the
    error that matters is already on its way)."""
    manager = connect(dsn)
    conn = manager.__enter__()
    try:
        yield conn
    finally:
        with suppress(Exception):
            manager.__exit__(None, None, None)


def _one(conn: psycopg.Connection, sql: str, params: tuple = ()) -> tuple | None:
    return conn.execute(sql, params).fetchone()


def _replication_command(conn: psycopg.Connection, command: str) -> pq.PGresult:
    """A replication command (simple query protocol, as walsender wants)."""
    result = conn.pgconn.exec_(command.encode())
    if result.status not in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
        message = (result.error_message or b"").decode(errors="replace").strip()
        raise psycopg.OperationalError(message or f"{command.split()[0]} failed")
    return result


@dataclass
class _Slot:
    database: str | None
    plugin: str | None
    slot_type: str
    confirmed_flush: int | None
    active_pid: int | None
    wal_status: str | None


def _slot(conn: psycopg.Connection, name: str) -> _Slot | None:
    row = _one(
        conn,
        "SELECT database, plugin, slot_type, confirmed_flush_lsn::text, active_pid, wal_status "
        "FROM pg_replication_slots WHERE slot_name = %s",
        (name,),
    )
    if row is None:
        return None
    return _Slot(row[0], row[1], row[2], lsn_to_int(row[3]) if row[3] else None, row[4], row[5])


def _validate_slot(conn: psycopg.Connection, config: PostgresCdcConfig, slot: _Slot) -> None:
    database = _one(conn, "SELECT current_database()")[0]  # type: ignore[index]
    name = config.slot_name
    if slot.slot_type != "logical" or slot.plugin != "pgoutput" or slot.database != database:
        raise SourceError(
            f"replication slot {name!r} exists but is a {slot.slot_type} slot for plugin "
            f"{slot.plugin} in database {slot.database}, not a pgoutput slot of {database}: "
            "choose another slot_name"
        )
    if slot.wal_status == "lost":
        raise SourceError(
            f"replication slot {name!r} lost WAL it needed (max_slot_wal_keep_size): the "
            f"changes since the last sync are gone. Drop the slot (SELECT "
            f"pg_drop_replication_slot('{name}')) and reset the streams' state to resync"
        )


def _require_logical(conn: psycopg.Connection, dsn: str) -> None:
    level = _one(conn, "SHOW wal_level")[0]  # type: ignore[index]
    if level != "logical":
        raise SourceError(
            f"wal_level is {level!r} on {redact(dsn)}: change data capture needs "
            "wal_level = logical (ALTER SYSTEM SET wal_level = logical, then restart the server)"
        )


# -- tables ------------------------------------------------------------------------------------
@dataclass
class _Table:
    stream: str
    schema_name: str
    name: str
    oid: int
    columns: list[str]
    select: str  # the SELECT list: native columns as they are, the others ::text
    key: list[str]  # the primary key; empty: the replica identity columns
    replica_identity: str
    arrow_schema: pa.Schema | None = None  # data columns, as the snapshot batches have them

    @property
    def qualified(self) -> str:
        return quoted(self.schema_name, self.name, "postgresql://")


def _describe(
    conn: psycopg.Connection, config: PostgresCdcConfig, stream: str, *, cdc: bool = True
) -> _Table:
    table = config.table(stream)
    row = _one(
        conn,
        "SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'r'",
        (config.schema_name, table),
    )
    if row is None:
        raise SourceError(
            f"stream {stream!r}: table {config.schema_name}.{table} does not exist in "
            f"{redact(config.dsn)} (or is not a plain table): create it or fix the stream's table"
        )
    oid, identity = row
    columns = conn.execute(
        "SELECT a.attname, t.typname, t.typtype, et.typname FROM pg_attribute a "
        "JOIN pg_type t ON t.oid = a.atttypid "
        "LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A' "
        "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (oid,),
    ).fetchall()
    select = []
    for name, typname, typtype, element in columns:
        native = typname in NATIVE_TYPES or typtype == "e" or element in NATIVE_ARRAY_ELEMENTS
        select.append(f'"{name}"' if native else f'"{name}"::text AS "{name}"')
    key = [
        r[0]
        for r in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND i.indrelid = %s "
            "ORDER BY array_position(i.indkey::int2[], a.attnum)",
            (oid,),
        ).fetchall()
    ]
    if cdc and (identity == "n" or (identity == "d" and not key)):
        raise SourceError(
            f"stream {stream!r}: table {config.schema_name}.{table} has no replica identity "
            "(no primary key, or REPLICA IDENTITY NOTHING): its updates and deletes cannot be "
            "captured, and would fail once the table is published. Add a primary key or "
            f'ALTER TABLE "{config.schema_name}"."{table}" REPLICA IDENTITY FULL'
        )
    return _Table(
        stream=stream,
        schema_name=config.schema_name,
        name=table,
        oid=oid,
        columns=[c[0] for c in columns],
        select=", ".join(select),
        key=key,
        replica_identity=identity,
    )


def _ensure_publication(
    conn: psycopg.Connection, config: PostgresCdcConfig, tables: list[_Table]
) -> None:
    pub = config.publication_name
    try:
        row = _one(
            conn,
            "SELECT puballtables, pubinsert AND pubupdate AND pubdelete FROM pg_publication "
            "WHERE pubname = %s",
            (pub,),
        )
        if row is None:
            names = ", ".join(t.qualified for t in tables)
            conn.execute(f'CREATE PUBLICATION "{pub}" FOR TABLE {names}')
            log.info("created publication %s for %s", pub, names)
            return
        if not row[1]:
            raise SourceError(
                f"publication {pub!r} does not publish all of insert, update and delete: "
                f"ALTER PUBLICATION \"{pub}\" SET (publish = 'insert, update, delete, truncate')"
            )
        if row[0]:
            return
        present = set(
            conn.execute(
                "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
                (pub,),
            ).fetchall()
        )
        missing = [t for t in tables if (t.schema_name, t.name) not in present]
        if missing:
            names = ", ".join(t.qualified for t in missing)
            conn.execute(f'ALTER PUBLICATION "{pub}" ADD TABLE {names}')
            log.info("added %s to publication %s", names, pub)
    except psycopg.Error as exc:
        raise SourceError(
            f"cannot create or extend publication {pub!r} in {redact(config.dsn)}: "
            f"{_reason(exc)}. The user needs CREATE on the database and must own "
            "the tables; or have a superuser create the publication for the tables"
        ) from exc


# -- text to Arrow -------------------------------------------------------------------------
_ISO_PART = re.compile(r"([-+]?\d+(?:\.\d+)?)([YMWDHS])")


def _interval(text: str) -> tuple[int, int, int]:
    """An ISO 8601 interval as PostgreSQL prints it (IntervalStyle iso_8601)."""
    if not text.startswith("P"):
        raise ValueError(f"not an ISO 8601 interval: {text!r}")
    date_part, _, time_part = text[1:].partition("T")
    months = days = nanos = 0
    for number, unit in _ISO_PART.findall(date_part):
        if unit == "Y":
            months += int(number) * 12
        elif unit == "M":
            months += int(number)
        elif unit == "W":
            days += int(number) * 7
        else:
            days += int(number)
    scale = {"H": 3_600_000_000_000, "M": 60_000_000_000, "S": 1_000_000_000}
    for number, unit in _ISO_PART.findall(time_part):
        nanos += int(Decimal(number) * scale[unit])
    return months, days, nanos


def _array_elements(text: str) -> list[str | None]:
    """The elements of a PostgreSQL array literal, flattened (as ADBC flattens them)."""
    if text.startswith("["):  # explicit bounds: [0:1]={...}
        text = text[text.index("=") + 1 :]
    out: list[str | None] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "{},":
            i += 1
        elif c == '"':
            i += 1
            chars = []
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                chars.append(text[i])
                i += 1
            out.append("".join(chars))
            i += 1
        else:
            j = i
            while j < n and text[j] not in ",}":
                j += 1
            token = text[i:j]
            out.append(None if token == "NULL" else token)
            i = j
    return out


# PostgreSQL server encodings whose Python codec name differs from a lower-cased name
_CODECS = {"SQL_ASCII": "utf-8", "UTF8": "utf-8", "EUC_JIS_2004": "euc_jis_2004", "SJIS": "cp932"}


def _decode_text(values: pa.Array, encoding: str) -> pa.Array:
    """Bytes in the database encoding as a string array (UTF-8: one vectorised check)."""
    if encoding in ("UTF8", "SQL_ASCII"):
        return values.cast(pa.string())
    codec = _CODECS.get(encoding) or encoding.lower().replace("win", "cp")
    return pa.array(
        [None if v is None else v.decode(codec) for v in values.to_pylist()], pa.string()
    )


def from_text(values: pa.Array, arrow_type: pa.DataType) -> pa.Array:
    """PostgreSQL text output (a string array, nulls allowed) as an array of `arrow_type`."""
    if isinstance(arrow_type, pa.BaseExtensionType):
        if arrow_type.extension_name == "arrow.uuid":
            storage = pa.array(
                [None if v is None else uuid.UUID(v).bytes for v in values.to_pylist()],
                arrow_type.storage_type,
            )
        elif getattr(arrow_type, "type_name", None) == "numeric":
            # ADBC spells PostgreSQL's numeric NaN/Infinity/-Infinity as nan/inf/-inf
            storage = pc.replace_substring_regex(
                pc.replace_substring_regex(values, "^NaN$", "nan"), "Infinity$", "inf"
            ).cast(arrow_type.storage_type)
        else:  # JSON (and other opaque text) keep PostgreSQL's text
            storage = from_text(values, arrow_type.storage_type)
        return pa.ExtensionArray.from_storage(arrow_type, storage)
    if pa.types.is_boolean(arrow_type):
        return pc.equal(values, "t")
    if pa.types.is_floating(arrow_type):
        # PostgreSQL prints Infinity/-Infinity/NaN, which Arrow parses
        return values.cast(arrow_type)
    if pa.types.is_time(arrow_type):
        stamps = pc.binary_join_element_wise(pa.scalar("1970-01-01"), values, " ")
        return stamps.cast(pa.timestamp(arrow_type.unit)).cast(arrow_type)
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return pa.array(
            [None if v is None else bytes.fromhex(v[2:]) for v in values.to_pylist()],
            arrow_type,
        )
    if pa.types.is_interval(arrow_type):
        return pa.array(
            [None if v is None else _interval(v) for v in values.to_pylist()], arrow_type
        )
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        offsets, flat, nulls = [0], [], []
        for v in values.to_pylist():
            nulls.append(v is None)
            if v is not None:
                flat.extend(_array_elements(v))
            offsets.append(len(flat))
        children = from_text(pa.array(flat, pa.string()), arrow_type.value_type)
        list_class = pa.LargeListArray if pa.types.is_large_list(arrow_type) else pa.ListArray
        offset_type = pa.int64() if pa.types.is_large_list(arrow_type) else pa.int32()
        return list_class.from_arrays(
            pa.array(offsets, offset_type),
            children,
            type=arrow_type,
            mask=pa.array(nulls, pa.bool_()),
        )
    # integers, decimals, text, dates, timestamps (with an offset, in UTC): Arrow's casts
    return values.cast(arrow_type)


def _with_metadata(batch: pa.RecordBatch, op: str, position: int) -> pa.RecordBatch:
    n = batch.num_rows
    return pa.RecordBatch.from_arrays(
        [
            *batch.columns,
            pa.repeat(pa.scalar(op), n),
            pa.repeat(pa.scalar(position, pa.int64()), n),
        ],
        schema=_output_schema(batch.schema),
    )


def _output_schema(schema: pa.Schema) -> pa.Schema:
    for metadata_field in SOURCE_METADATA_FIELDS:
        schema = schema.append(metadata_field)
    return schema


# -- streams during a read -----------------------------------------------------------------
@dataclass
class _Stream:
    name: str
    table: _Table
    incremental: bool
    lsn: int | None  # from the state: transactions ending at or before it are done
    key_columns: list[int] = field(default_factory=list)
    key_of: Callable[[list], Any] = field(default=lambda values: ())  # a row's key, hashable
    # relation oid -> the schema index of each column; None: the same columns, in order
    column_map: dict[int, list[int | None] | None] = field(default_factory=dict)
    encoding: str = "UTF8"  # the database's: pgoutput sends text in it
    rows: list[list[Any]] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    changes: int = 0  # change rows emitted in this read


def _state_lsn(state: Mapping[str, Any] | None, stream: str = "?") -> int | None:
    """The committed LSN of a stream's state; None: no snapshot committed yet."""
    if not isinstance(state, Mapping) or not state.get("snapshot_done"):
        return None
    value = state.get("lsn")
    if value is None:
        return None
    try:
        return lsn_to_int(value) if isinstance(value, str) and "/" in value else int(value)
    except (TypeError, ValueError) as exc:
        raise SourceError(
            f"stream {stream!r}: the state's lsn {value!r} is not an LSN; reset the stream's "
            "state to take a new snapshot"
        ) from exc


def _row(values: list, column_map: list[int | None] | None, width: int) -> list:
    """A decoded tuple in the stream's column order; unchanged TOASTed values are null."""
    if column_map is None:
        if UNCHANGED_TOAST in values:
            return [None if v is UNCHANGED_TOAST else v for v in values]
        return values
    out: list = [None] * width
    for value, i in zip(values, column_map, strict=False):
        if i is not None and value is not UNCHANGED_TOAST:
            out[i] = value
    return out


def _tombstone(values: list, keys: list[int], width: int) -> list:
    out: list = [None] * width
    for i in keys:
        out[i] = values[i]
    return out


def _put(rows: dict[Any, tuple[str, list]], key: Any, op: str, values: list) -> None:
    """Keep the last change per key within a transaction."""
    previous = rows.get(key)
    if previous is not None and previous[0] == "c" and op == "u":
        op = "c"  # inserted, then updated in the same transaction: still an insert
    rows[key] = (op, values)


def _checkpoint(stream: _Stream, lsn: int) -> Checkpoint:
    return Checkpoint(stream.name, {"lsn": lsn, "snapshot_done": True})


class PostgresCdcSource(Source[PostgresCdcConfig]):
    name = "postgres_cdc"
    config_model = PostgresCdcConfig
    source_defined_cursor = True

    # -- check / discover --------------------------------------------------------------------
    def check(self, config: PostgresCdcConfig) -> None:
        with _pg(config.dsn) as conn:
            try:
                _require_logical(conn, config.dsn)
                user, superuser, replication = _one(  # type: ignore[misc]
                    conn,
                    "SELECT rolname, rolsuper, rolreplication FROM pg_roles "
                    "WHERE rolname = current_user",
                )
                if not (superuser or replication):
                    raise SourceError(
                        f"user {user!r} can neither create nor use replication slots: "
                        f'ALTER ROLE "{user}" REPLICATION (or connect as a superuser)'
                    )
                with _pg(config.dsn, replication=True) as repl:
                    _replication_command(repl, "IDENTIFY_SYSTEM")
                slot = _slot(conn, config.slot_name)
                if slot is not None:
                    _validate_slot(conn, config, slot)
                else:
                    used, limit = _one(  # type: ignore[misc]
                        conn,
                        "SELECT count(*), current_setting('max_replication_slots')::int "
                        "FROM pg_replication_slots",
                    )
                    if used >= limit:
                        raise SourceError(
                            f"max_replication_slots ({limit}) leaves no room for slot "
                            f"{config.slot_name!r}: raise it and restart the server"
                        )
                for options in config.streams:
                    _describe(conn, config, options.name)
            except psycopg.Error as exc:
                raise SourceError(f"cannot check {redact(config.dsn)}: {_reason(exc)}") from exc

    def discover(self, config: PostgresCdcConfig) -> AirbyteCatalog:
        dsn = config.dsn
        with connect(dsn) as conn:
            streams = []
            for table in list_tables(conn, dsn, config.schema_name):
                schema = table_schema(conn, dsn, config.schema_name, table)
                key = primary_key(conn, dsn, config.schema_name, table)
                streams.append(
                    AirbyteStream(
                        name=table,
                        json_schema=json_schema_of(_output_schema(schema)),
                        supported_sync_modes=[SyncMode.incremental, SyncMode.full_refresh],
                        source_defined_cursor=True,
                        source_defined_primary_key=[[k] for k in key] or None,
                    )
                )
        return AirbyteCatalog(streams=streams)

    # -- read ----------------------------------------------------------------------------------
    def read(
        self,
        config: PostgresCdcConfig,
        catalog: ConfiguredAirbyteCatalog,
        state: Mapping[str, dict[str, Any]],
    ) -> Iterator[ReadEvent]:
        names = [s.stream.name for s in catalog.streams]
        try:
            yield from guard_reads(self._read(config, catalog, state), config.dsn, names)
        except psycopg.Error as exc:  # anything not wrapped with more context below
            raise SourceError(
                f"postgres_cdc on {redact(config.dsn)} failed: {_reason(exc)}. "
                "Rerun the sync: it resumes from the last committed state"
            ) from exc

    def _read(
        self,
        config: PostgresCdcConfig,
        catalog: ConfiguredAirbyteCatalog,
        state: Mapping[str, dict[str, Any]],
    ) -> Iterator[ReadEvent]:
        with ExitStack() as stack:
            ctl = stack.enter_context(_pg(config.dsn))
            _require_logical(ctl, config.dsn)
            streams = []
            for configured in catalog.streams:
                name = configured.stream.name
                incremental = is_incremental(configured)
                streams.append(
                    _Stream(
                        name=name,
                        table=_describe(ctl, config, name, cdc=incremental),
                        incremental=incremental,
                        lsn=_state_lsn(state.get(name), name) if incremental else None,
                    )
                )
            incremental = [s for s in streams if s.incremental]
            if incremental:
                yield from self._incremental(config, ctl, incremental, state)
            full = [s for s in streams if not s.incremental]
            if full:
                for event in self._snapshot(config, full, None, None):
                    yield Checkpoint(event.stream, {}) if isinstance(event, Checkpoint) else event

    def _incremental(
        self,
        config: PostgresCdcConfig,
        ctl: psycopg.Connection,
        streams: list[_Stream],
        state: Mapping[str, dict[str, Any]],
    ) -> Iterator[ReadEvent]:
        name = config.slot_name
        _ensure_publication(ctl, config, [s.table for s in streams])
        slot = _slot(ctl, name)
        if slot is not None:
            _validate_slot(ctl, config, slot)  # ours: a pgoutput slot of this database
        if slot is not None and not any(_state_lsn(v) is not None for v in state.values()):
            # nothing was ever committed from this slot: a leftover of an interrupted first
            # sync. Start over with a fresh slot and snapshot rather than decode its backlog.
            log.warning("dropping replication slot %s: no stream has committed state", name)
            self._drop_slot(ctl, config, slot)
            slot = None
        done = [s for s in streams if s.lsn is not None]
        if slot is None:
            if done:
                raise SourceError(
                    f"replication slot {name!r} does not exist in {redact(config.dsn)}, but "
                    f"streams {[s.name for s in done]} have state: the changes since their last "
                    "sync cannot be read. Reset their state to take a new snapshot"
                )
            yield from self._slot_snapshot(config, streams, temporary=False)
        else:
            if done:
                self._advance(ctl, config, slot, min(s.lsn for s in done))  # type: ignore[type-var]
            pending = [s for s in streams if s.lsn is None]
            if pending:
                yield from self._slot_snapshot(config, pending, temporary=True)
        yield from self._changes(config, ctl, streams)

    def _drop_slot(self, ctl: psycopg.Connection, config: PostgresCdcConfig, slot: _Slot) -> None:
        if slot.active_pid is not None:
            raise SourceError(
                f"replication slot {config.slot_name!r} is in use by process {slot.active_pid}: "
                "is another sync of this connection running?"
            )
        try:
            ctl.execute("SELECT pg_drop_replication_slot(%s)", (config.slot_name,))
        except psycopg.Error as exc:
            raise SourceError(
                f"cannot drop the leftover replication slot {config.slot_name!r}: {_reason(exc)}"
            ) from exc

    def _advance(
        self, ctl: psycopg.Connection, config: PostgresCdcConfig, slot: _Slot, lsn: int
    ) -> None:
        """Acknowledge what the engine committed: the server may recycle the WAL before it."""
        confirmed = slot.confirmed_flush or 0
        if lsn < confirmed:
            raise SourceError(
                f"the committed state (LSN {lsn_to_text(lsn)}) is behind replication slot "
                f"{config.slot_name!r} (confirmed {lsn_to_text(confirmed)}): the changes in "
                "between are gone. Reset the streams' state to take a new snapshot"
            )
        if lsn > confirmed:
            try:
                ctl.execute(
                    "SELECT pg_replication_slot_advance(%s, %s::pg_lsn)",
                    (config.slot_name, lsn_to_text(lsn)),
                )
            except psycopg.Error as exc:
                raise SourceError(
                    f"cannot advance replication slot {config.slot_name!r} to "
                    f"{lsn_to_text(lsn)}: {_reason(exc)}"
                ) from exc

    # -- snapshots -------------------------------------------------------------------------
    def _slot_snapshot(
        self, config: PostgresCdcConfig, streams: list[_Stream], *, temporary: bool
    ) -> Iterator[ReadEvent]:
        """Create a slot with an exported snapshot and read the streams in that snapshot."""
        slot = f"{config.slot_name}_snap_{secrets.token_hex(4)}" if temporary else config.slot_name
        with _pg(config.dsn, replication=True) as repl:
            syntax = (
                "(SNAPSHOT 'export')" if repl.info.server_version >= 150000 else "EXPORT_SNAPSHOT"
            )
            kind = "TEMPORARY LOGICAL" if temporary else "LOGICAL"
            try:
                result = _replication_command(
                    repl, f'CREATE_REPLICATION_SLOT "{slot}" {kind} pgoutput {syntax}'
                )
            except psycopg.Error as exc:
                raise SourceError(
                    f"cannot create replication slot {slot!r} for "
                    f"{[s.name for s in streams]}: {_reason(exc)}. The user needs "
                    "the REPLICATION attribute and a free slot (max_replication_slots)"
                ) from exc
            position = lsn_to_int(result.get_value(0, 1).decode())  # type: ignore[union-attr]
            snapshot = result.get_value(0, 2).decode()  # type: ignore[union-attr]
            log.info("slot %s at %s exported snapshot %s", slot, lsn_to_text(position), snapshot)
            # the replication connection stays open and idle until the snapshot is read
            yield from self._snapshot(config, streams, snapshot, position)

    def _snapshot(
        self,
        config: PostgresCdcConfig,
        streams: list[_Stream],
        snapshot: str | None,
        position: int | None,
    ) -> Iterator[ReadEvent]:
        """Read the streams' tables in one REPEATABLE READ transaction (importing the slot's
        exported snapshot when given) through ADBC; per stream: Records, SourceTotals and a
        Checkpoint at `position`."""
        with _adbc(config.dsn) as conn:
            cursor = conn.cursor()
            try:
                # ADBC opened a transaction that has run nothing yet: the snapshot import
                # must be its first statements
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                if snapshot is not None:
                    if not re.fullmatch(r"[0-9A-Fa-f-]+", snapshot):
                        raise SourceError(f"unexpected snapshot name {snapshot!r}")
                    cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                if position is None:
                    cursor.execute("SELECT pg_current_wal_lsn()::text")
                    position = lsn_to_int(cursor.fetchone()[0])
            except SourceError:
                raise
            except Exception as exc:
                raise SourceError(
                    f"cannot start the snapshot of {[s.name for s in streams]} on "
                    f"{redact(config.dsn)}: {_reason(exc)}"
                ) from exc
            finally:
                with suppress(Exception):
                    cursor.close()
            for stream in streams:
                yield from self._snapshot_table(conn, config, stream, position)
                stream.lsn = position
            with suppress(Exception):
                conn.commit()

    def _snapshot_table(
        self, conn: Any, config: PostgresCdcConfig, stream: _Stream, position: int
    ) -> Iterator[ReadEvent]:
        table = stream.table
        cursor = conn.cursor()
        try:
            cursor.adbc_statement.set_options(
                **{"adbc.postgresql.batch_size_hint_bytes": str(config.batch_rows * 200)}
            )
            cursor.execute(f"SELECT {table.select} FROM {table.qualified}")
            reader: pa.RecordBatchReader = cursor.fetch_record_batch()
            table.arrow_schema = normalized_schema(reader.schema)
            for batch in reader:
                batch = normalize(batch, table.arrow_schema)
                for start in range(0, batch.num_rows, config.batch_rows):
                    part = batch.slice(start, config.batch_rows)
                    yield Records(stream.name, _with_metadata(part, "r", position))
            cursor.close()
            cursor = conn.cursor()
            checksums = next(
                (o.checksum_columns for o in config.streams if o.name == stream.name), []
            )
            totals = ", ".join(["COUNT(*)", *(f'SUM("{c}")' for c in checksums)])
            cursor.execute(f"SELECT {totals} FROM {table.qualified}")
            row = cursor.fetchone()
            rows = int(row[0])
            sums = dict(zip(checksums, row[1:], strict=True))
        except Exception as exc:
            raise SourceError(
                f"stream {stream.name!r}: reading the snapshot of table "
                f"{table.schema_name}.{table.name} from {redact(config.dsn)} failed: "
                f"{_reason(exc)}. Rerun the sync: it resumes from the last "
                "committed state (a stream whose snapshot was not committed is read again)"
            ) from exc
        finally:
            with suppress(Exception):
                cursor.close()
        yield SourceTotals(stream.name, rows=rows, sums=sums)
        yield _checkpoint(stream, position)

    def _schemas(self, config: PostgresCdcConfig, streams: list[_Stream]) -> None:
        """The Arrow schema of the tables not snapshotted in this read (the snapshot's)."""
        missing = [s for s in streams if s.table.arrow_schema is None]
        if not missing:
            return
        with _adbc(config.dsn) as conn:
            for stream in missing:
                table = stream.table
                cursor = conn.cursor()
                try:
                    cursor.execute(f"SELECT {table.select} FROM {table.qualified} LIMIT 0")
                    table.arrow_schema = normalized_schema(cursor.fetch_record_batch().schema)
                except Exception as exc:
                    raise SourceError(
                        f"stream {stream.name!r}: cannot read the columns of table "
                        f"{table.schema_name}.{table.name}: {_reason(exc)}"
                    ) from exc
                finally:
                    with suppress(Exception):
                        cursor.close()

    # -- changes -----------------------------------------------------------------------------
    def _changes(
        self, config: PostgresCdcConfig, ctl: psycopg.Connection, streams: list[_Stream]
    ) -> Iterator[ReadEvent]:
        self._schemas(config, streams)
        by_table: dict[tuple[str, str], list[_Stream]] = {}
        for stream in streams:
            by_table.setdefault((stream.table.schema_name, stream.table.name), []).append(stream)
        relations: dict[int, list[_Stream]] = {}
        txn: dict[str, dict[Any, tuple[str, list]]] = {}
        processed: int | None = None  # end LSN of the last transaction read
        since_checkpoint = 0
        slot = config.slot_name
        try:
            upto, encoding = _one(  # type: ignore[misc]
                ctl, "SELECT pg_current_wal_lsn()::text, current_setting('server_encoding')"
            )
            for stream in streams:
                stream.encoding = encoding
            # WITH HOLD: the result is materialised (spilled to disk if large) when the
            # DECLARE commits, so no transaction stays open on the server while the engine
            # commits batches
            cursor = ctl.cursor(name="lakehouse_cdc_changes", binary=True, withhold=True)
            try:
                cursor.execute(
                    "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, %s::pg_lsn, NULL, "
                    "'proto_version', '1', 'publication_names', %s)",
                    (slot, upto, f'"{config.publication_name}"'),
                )
                while rows := cursor.fetchmany(FETCH_MESSAGES):
                    for (data,) in rows:
                        message = pgoutput.decode(data)
                        if data[0] in ROW_MESSAGES:  # the bulk: insert, update, delete
                            oid = message.relation_oid  # type: ignore[union-attr]
                            for stream in relations.get(oid, ()):
                                rows_of = txn.setdefault(stream.name, {})
                                self._change(stream, message, rows_of)  # type: ignore[arg-type]
                        elif isinstance(message, pgoutput.Commit):
                            processed = message.end_lsn
                            since_checkpoint += self._commit(streams, txn, message.end_lsn)
                            txn.clear()
                            for stream in streams:
                                if len(stream.rows) >= config.batch_rows:
                                    yield from self._flush(stream, config)
                            if since_checkpoint >= config.checkpoint_changes:
                                since_checkpoint = 0
                                yield from self._checkpoints(config, streams, processed)
                        elif isinstance(message, pgoutput.Begin):
                            txn.clear()
                        elif isinstance(message, pgoutput.Relation):
                            self._relation(message, by_table, relations)
                        elif isinstance(message, pgoutput.Truncate):
                            names = [
                                s.name
                                for oid in message.relation_oids
                                for s in relations.get(oid, ())
                            ]
                            log.warning(
                                "TRUNCATE of streams %s is not replicated: the lake keeps their "
                                "rows until the streams are resynced",
                                names,
                            )
                        # Origin, Type and Message need nothing
            finally:
                with suppress(Exception):
                    cursor.close()
        except psycopg.Error as exc:
            raise SourceError(self._changes_error(config, streams, exc)) from exc
        except pgoutput.PgOutputError as exc:
            raise SourceError(
                f"replication slot {slot!r} returned a message this source cannot decode: {exc}"
            ) from exc
        # every change row first, then the totals they must add up to, then the state
        for stream in streams:
            yield from self._flush(stream, config)
        for stream in streams:
            yield SourceTotals(stream.name, rows=stream.changes)
        yield from self._checkpoints(config, streams, processed)

    @staticmethod
    def _changes_error(
        config: PostgresCdcConfig, streams: list[_Stream], exc: psycopg.Error
    ) -> str:
        slot = config.slot_name
        names = [s.name for s in streams]
        reason = _reason(exc)
        if isinstance(exc, errors.UndefinedObject):
            advice = "the slot is gone: reset the streams' state to take a new snapshot"
        elif isinstance(exc, errors.ObjectInUse):
            advice = "another process reads the slot: is another sync of this connection running?"
        elif isinstance(exc, errors.InsufficientPrivilege):
            advice = "the user needs the REPLICATION attribute"
        else:
            advice = "rerun the sync: it resumes from the last committed state"
        return (
            f"reading changes of streams {names} from replication slot {slot!r} on "
            f"{redact(config.dsn)} failed: {reason}. {advice[0].upper()}{advice[1:]}"
        )

    @staticmethod
    def _relation(
        message: pgoutput.Relation,
        by_table: dict[tuple[str, str], list[_Stream]],
        relations: dict[int, list[_Stream]],
    ) -> None:
        targets = by_table.get((message.namespace, message.name), [])
        relations[message.oid] = targets
        for stream in targets:
            schema = stream.table.arrow_schema
            assert schema is not None
            index = {name: i for i, name in enumerate(schema.names)}
            column_map = [index.get(c.name) for c in message.columns]
            new = [c.name for c, i in zip(message.columns, column_map, strict=True) if i is None]
            if new:
                log.warning(
                    "stream %s: columns %s were not in the table when this read started "
                    "and are left out of its changes (the next read has them)",
                    stream.name,
                    new,
                )
            same = [c.name for c in message.columns] == schema.names
            stream.column_map[message.oid] = None if same else column_map
            key = stream.table.key or [c.name for c in message.columns if c.is_key]
            stream.key_columns = [index[k] for k in key if k in index] or list(range(len(index)))
            stream.key_of = itemgetter(*stream.key_columns)

    @staticmethod
    def _change(
        stream: _Stream,
        message: pgoutput.Insert | pgoutput.Update | pgoutput.Delete,
        rows: dict[tuple, tuple[str, list]],
    ) -> None:
        column_map = stream.column_map[message.relation_oid]
        width = len(stream.table.arrow_schema)  # type: ignore[arg-type]
        keys, key_of = stream.key_columns, stream.key_of
        if isinstance(message, pgoutput.Insert):
            new = _row(message.new, column_map, width)
            _put(rows, key_of(new), "c", new)
        elif isinstance(message, pgoutput.Update):
            values = message.new
            if message.old_kind == "O" and UNCHANGED_TOAST in values:
                # REPLICA IDENTITY FULL: the old row has the values the new one leaves out
                values = [
                    o if n is UNCHANGED_TOAST else n
                    for n, o in zip(values, message.old, strict=True)  # type: ignore[arg-type]
                ]
            new = _row(values, column_map, width)
            if message.old is not None:  # the key changed (or REPLICA IDENTITY FULL)
                old = _row(message.old, column_map, width)
                if key_of(old) != key_of(new):
                    _put(rows, key_of(old), "d", _tombstone(old, keys, width))
            _put(rows, key_of(new), "u", new)
        else:
            old = _row(message.old, column_map, width)
            _put(rows, key_of(old), "d", _tombstone(old, keys, width))

    @staticmethod
    def _commit(streams: list[_Stream], txn: dict[str, dict], end_lsn: int) -> int:
        """Move a committed transaction's collapsed rows to the streams' buffers."""
        added = 0
        for stream in streams:
            rows = txn.get(stream.name)
            if not rows or (stream.lsn is not None and end_lsn <= stream.lsn):
                continue  # nothing, or already in the stream's snapshot or committed state
            for op, values in rows.values():
                stream.rows.append(values)
                stream.ops.append(op)
            stream.positions.extend([end_lsn] * len(rows))
            stream.changes += len(rows)
            added += len(rows)
        return added

    @staticmethod
    def _flush(stream: _Stream, config: PostgresCdcConfig) -> Iterator[ReadEvent]:
        schema = stream.table.arrow_schema
        assert schema is not None
        output = _output_schema(schema)
        while stream.rows:
            n = min(len(stream.rows), config.batch_rows)
            rows, stream.rows = stream.rows[:n], stream.rows[n:]
            ops, stream.ops = stream.ops[:n], stream.ops[n:]
            positions, stream.positions = stream.positions[:n], stream.positions[n:]
            columns = list(zip(*rows, strict=True)) if schema else []
            arrays = []
            for values, schema_field in zip(columns, schema, strict=True):
                try:
                    texts = _decode_text(pa.array(values, pa.binary()), stream.encoding)
                    arrays.append(from_text(texts, schema_field.type))
                except (pa.ArrowException, ValueError, TypeError) as exc:
                    raise SourceError(
                        f"stream {stream.name!r}: cannot convert the changed values of column "
                        f"{schema_field.name!r} to {schema_field.type}: {exc}"
                    ) from exc
            arrays += [pa.array(ops, pa.string()), pa.array(positions, pa.int64())]
            yield Records(stream.name, pa.RecordBatch.from_arrays(arrays, schema=output))

    def _checkpoints(
        self, config: PostgresCdcConfig, streams: list[_Stream], processed: int | None
    ) -> Iterator[ReadEvent]:
        for stream in streams:
            yield from self._flush(stream, config)
        for stream in streams:
            lsn = max(x for x in (stream.lsn, processed) if x is not None)
            yield _checkpoint(stream, lsn)


if __name__ == "__main__":
    from ingestion.airbyte_cli import run

    sys.exit(run(PostgresCdcSource()))
