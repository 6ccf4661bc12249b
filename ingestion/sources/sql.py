"""SQLite and PostgreSQL tables as Arrow batches through ADBC, streaming.

ADBC hands over columnar batches straight from the driver (binary COPY on PostgreSQL),
so a table is never loaded whole and no record goes through Python one by one.

Full refresh reads the whole table. Incremental reads past the last committed position,
the cursor value and then the primary key of the last row read (`ingestion.sources.position`):
a row is read once even when thousands share one cursor value, and a rerun after a crash
reads only what was not committed. The data, the source-side count and the checksum sums
are read in one snapshot, so they reconcile even while the application writes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow as pa
from airbyte_protocol.models import (
    AirbyteCatalog,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    SyncMode,
)
from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.redaction import redact
from ingestion.prefetch import interleaved
from ingestion.protocol import (
    Checkpoint,
    KeySnapshot,
    ReadEvent,
    Records,
    Source,
    SourceError,
    SourceTotals,
    cursor_of,
    is_incremental,
    json_schema_of,
)
from ingestion.sources.connection_loss import guard_reads
from ingestion.sources.position import KEY, LastPosition, resume_clause

SQLITE_PREFIX = "sqlite:///"
KEYS_CHECKED_AT = "keys_checked_at"  # state: when the keys were last handed over
# a whole PostgreSQL table smaller than this is read on one connection
PARALLEL_MIN_BYTES = 64 * 2**20
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


class SqlSourceError(SourceError):
    """The database cannot be reached or the table cannot be read."""


class SqlStreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    table: str | None = Field(default=None, pattern=IDENTIFIER_PATTERN)
    # numeric columns whose sums the source reports over the range read (reconciliation)
    checksum_columns: list[str] = Field(default_factory=list)
    # after an incremental read, hand over every primary key so the engine can land
    # tombstones for rows deleted at the source (a cursor cannot see a hard delete): every
    # sync (true), never (false), or at most once per interval ("30m", "6h", "1d")
    detect_deletes: bool | timedelta = True

    @field_validator("detect_deletes", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> Any:
        if not isinstance(value, str) or value.lower() in ("true", "false"):
            return value
        match = re.fullmatch(r"(\d+)\s*([mhd])", value.strip())
        if not match or int(match[1]) == 0:
            raise ValueError(f"{value!r}: expected true, false or an interval such as 30m, 6h, 1d")
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return timedelta(**{unit: int(match[1])})

    def deletes_due(self, state: dict[str, Any], now: datetime) -> bool:
        """Whether this read should hand over the keys (the interval counts from the last
        read that did, kept in the stream's state)."""
        if isinstance(self.detect_deletes, bool):
            return self.detect_deletes
        last = state.get(KEYS_CHECKED_AT)
        return last is None or now - datetime.fromisoformat(last) >= self.detect_deletes

    @field_validator("checksum_columns")
    @classmethod
    def _identifiers(cls, value: list[str]) -> list[str]:
        for column in value:
            if not re.match(IDENTIFIER_PATTERN, column):
                raise ValueError(f"{column!r} is not a column name")
        return value


class SqlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dsn: str = Field(description="sqlite:///path/to.db or postgresql://user:pass@host/db")
    batch_rows: int = Field(default=100_000, gt=0)
    schema_name: str = Field(default="public", pattern=IDENTIFIER_PATTERN)
    # 2+: a whole large PostgreSQL table is read on that many connections, each a range of
    # its pages, in one exported snapshot. Off by default: on 2 cores it gained nothing
    # (docs/ingestion.md, Speed); it can where the server, not this process, is the limit
    parallel_reads: int = Field(default=1, ge=1, le=8)
    streams: list[SqlStreamOptions] = Field(default_factory=list)

    def options(self, stream: str) -> SqlStreamOptions:
        for options in self.streams:
            if options.name == stream:
                return options
        return SqlStreamOptions(name=stream)


def is_sqlite(dsn: str) -> bool:
    return dsn.startswith(SQLITE_PREFIX)


@contextmanager
def connect(dsn: str) -> Iterator[Any]:
    """An ADBC connection; SQLite opened read-only (a sync never changes its source)."""
    try:
        if is_sqlite(dsn):
            import adbc_driver_sqlite.dbapi as sqlite

            path = Path(dsn.removeprefix(SQLITE_PREFIX))
            if not path.exists():
                raise SqlSourceError(f"SQLite database {path} does not exist")
            conn = sqlite.connect(f"file:{path.resolve()}?mode=ro")
        elif dsn.startswith(("postgresql://", "postgres://")):
            import adbc_driver_postgresql.dbapi as postgresql

            conn = postgresql.connect(dsn)
        else:
            raise SqlSourceError(
                f"unsupported DSN {redact(dsn)!r}: expected sqlite:/// or postgresql://"
            )
    except SqlSourceError:
        raise
    except Exception as exc:  # driver error types vary; the reason is in the message
        raise SqlSourceError(redact(f"cannot connect to {dsn}: {exc}")) from exc
    try:
        yield conn
    finally:
        conn.close()


def _batch_options(dsn: str, batch_rows: int) -> dict[str, str]:
    if is_sqlite(dsn):
        return {"adbc.sqlite.query.batch_rows": str(batch_rows)}
    # PostgreSQL batches by size: about 200 bytes per row is typical for OLTP tables
    return {"adbc.postgresql.batch_size_hint_bytes": str(batch_rows * 200)}


def _fetch_one(conn: Any, sql: str, parameters: tuple = ()) -> tuple:
    cursor = conn.cursor()
    try:
        cursor.execute(sql, parameters or None)
        return cursor.fetchone()
    finally:
        cursor.close()


def _begin_snapshot(conn: Any, dsn: str) -> None:
    """One consistent snapshot for the data and the counts (PostgreSQL: REPEATABLE READ;
    SQLite: the read transaction ADBC opens holds one snapshot)."""
    if not is_sqlite(dsn):
        cursor = conn.cursor()
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.close()


def _import_snapshot(conn: Any, snapshot: str) -> None:
    """Make `conn`'s transaction see exactly what the exporting one sees (PostgreSQL: the
    first statements of its transaction)."""
    if not re.fullmatch(r"[0-9A-Fa-f-]+", snapshot):
        raise SqlSourceError(f"unexpected snapshot name {snapshot!r}")
    cursor = conn.cursor()
    try:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
    finally:
        cursor.close()


def list_tables(conn: Any, dsn: str, schema_name: str) -> list[str]:
    if is_sqlite(dsn):
        sql = (
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        params: tuple = ()
    else:
        sql = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 "
            "AND table_type = 'BASE TABLE' ORDER BY table_name"
        )
        params = (schema_name,)
    cursor = conn.cursor()
    try:
        cursor.execute(sql, params or None)
        return [row[0] for row in cursor.fetchall()]
    finally:
        cursor.close()


def table_schema(conn: Any, dsn: str, schema_name: str, table: str) -> pa.Schema:
    if is_sqlite(dsn):
        return conn.adbc_get_table_schema(table)
    return conn.adbc_get_table_schema(table, db_schema_filter=schema_name)


def primary_key(conn: Any, dsn: str, schema_name: str, table: str) -> list[str]:
    cursor = conn.cursor()
    try:
        if is_sqlite(dsn):
            cursor.execute(f'PRAGMA table_info("{table}")')
            rows = [r for r in cursor.fetchall() if r[5]]
            return [r[1] for r in sorted(rows, key=lambda r: r[5])]
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indisprimary "
            "AND i.indrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass",
            (schema_name, table),
        )
        return [r[0] for r in cursor.fetchall()]
    finally:
        cursor.close()


def quoted(schema_name: str, table: str, dsn: str) -> str:
    """A validated identifier, quoted (names come from configuration)."""
    return f'"{table}"' if is_sqlite(dsn) else f'"{schema_name}"."{table}"'


def normalized_schema(schema: pa.Schema) -> pa.Schema:
    """The schema bronze gets: NUMERIC(p, s), which ADBC hands over as an opaque text
    type, becomes decimal128(p, s), so it keeps its type and sums (and reconciles).
    Unconstrained NUMERIC (NaN, any precision) stays text."""
    fields = []
    for field in schema:
        kind = field.type
        typmod = int((field.metadata or {}).get(b"POSTGRESQL:typmod", b"-1"))
        if getattr(kind, "type_name", "") == "numeric" and typmod >= 4:
            precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
            if 0 < precision <= 38:
                field = pa.field(
                    field.name, pa.decimal128(precision, scale), field.nullable, field.metadata
                )
        fields.append(field)
    return pa.schema(fields, metadata=schema.metadata)


def normalize(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Cast a batch to its `normalized_schema` (a no-op for plain types)."""
    if batch.schema.equals(schema):
        return batch
    columns = []
    for column, field in zip(batch.columns, schema, strict=True):
        if column.type != field.type:
            storage = column.storage if isinstance(column, pa.ExtensionArray) else column
            column = storage.cast(field.type)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def key_columns(batch: pa.RecordBatch, key: list[str]) -> pa.RecordBatch:
    """The batch's key columns, copied: a column of a batch imported from the driver holds
    the memory of the whole batch."""
    return pa.RecordBatch.from_arrays([pa.concat_arrays([batch.column(k)]) for k in key], key)


class SqlSource(Source[SqlConfig]):
    name = "sql"
    config_model = SqlConfig

    def check(self, config: SqlConfig) -> None:
        with connect(config.dsn) as conn:
            for options in config.streams:
                table = options.table or options.name
                self._count(conn, config, table, "", ())

    def discover(self, config: SqlConfig) -> AirbyteCatalog:
        with connect(config.dsn) as conn:
            streams = []
            for table in list_tables(conn, config.dsn, config.schema_name):
                schema = normalized_schema(
                    table_schema(conn, config.dsn, config.schema_name, table)
                )
                key = primary_key(conn, config.dsn, config.schema_name, table)
                cursor = [f.name for f in schema if f.name == "updated_at"]
                streams.append(
                    AirbyteStream(
                        name=table,
                        json_schema=json_schema_of(schema),
                        supported_sync_modes=[SyncMode.full_refresh, SyncMode.incremental],
                        source_defined_cursor=False,
                        default_cursor_field=cursor or None,
                        source_defined_primary_key=[[k] for k in key] or None,
                    )
                )
        return AirbyteCatalog(streams=streams)

    def read(
        self,
        config: SqlConfig,
        catalog: ConfiguredAirbyteCatalog,
        state: Mapping[str, dict[str, Any]],
    ) -> Iterator[ReadEvent]:
        for stream in catalog.streams:
            events = self._read_stream(config, stream, state.get(stream.stream.name) or {})
            yield from guard_reads(events, config.dsn, [stream.stream.name])

    def _count(
        self, conn: Any, config: SqlConfig, table: str, where: str, params: tuple, sums=()
    ) -> tuple:
        name = quoted(config.schema_name, table, config.dsn)
        columns = ", ".join(["COUNT(*)", *(f'SUM("{c}")' for c in sums)])
        try:
            return _fetch_one(conn, f"SELECT {columns} FROM {name}{where}", params)
        except SourceError:
            raise
        except Exception as exc:
            raise SqlSourceError(
                redact(f"cannot read table {table!r} from {config.dsn}: {exc}")
            ) from exc

    def _keys(self, conn: Any, config: SqlConfig, table: str, key: list[str]) -> pa.Table:
        """Every primary key of the table, in the read's snapshot (one narrow scan); `key`
        holds columns of the table (`_position_key` checked them)."""
        columns = ", ".join(f'"{k}"' for k in key)
        cursor = conn.cursor()
        try:
            cursor.execute(f"SELECT {columns} FROM {quoted(config.schema_name, table, config.dsn)}")
            return cursor.fetch_arrow_table()
        except Exception as exc:
            raise SqlSourceError(
                f"cannot read the keys of table {table!r} from {config.dsn}: {exc}"
            ) from exc
        finally:
            cursor.close()

    def _read_stream(
        self, config: SqlConfig, stream: ConfiguredAirbyteStream, state: dict[str, Any]
    ) -> Iterator[ReadEvent]:
        name = stream.stream.name
        options = config.options(name)
        table = options.table or name
        cursor_field = cursor_of(stream) if is_incremental(stream) else None
        with connect(config.dsn) as conn:
            _begin_snapshot(conn, config.dsn)
            where, params, key = "", (), []
            schema = table_schema(conn, config.dsn, config.schema_name, table)
            if cursor_field is not None:
                key = self._position_key(conn, config, stream, table, schema)
                if cursor_field not in schema.names:
                    raise SqlSourceError(
                        f"{name}: cursor_field {cursor_field!r} is not a column of {table!r}"
                    )
                where, params = resume_clause(
                    state, cursor_field, key, schema, is_sqlite(config.dsn)
                )
            position = LastPosition(cursor_field, key) if cursor_field else None
            now = datetime.now(UTC)
            wants_keys = cursor_field is not None and bool(key) and options.deletes_due(state, now)
            # a read of the whole table sees every key: keep them instead of a second scan
            keys_read: list[pa.RecordBatch] | None = [] if wants_keys and not where else None
            with ExitStack() as open_readers:
                readers = self._readers(conn, config, table, where, params, open_readers)
                schema = normalized_schema(readers[0].schema)
                batches = interleaved(readers) if len(readers) > 1 else iter(readers[0])
                # closed first: it stops the threads that read the cursors closed next
                open_readers.callback(getattr(batches, "close", lambda: None))
                for batch in batches:
                    batch = normalize(batch, schema)
                    if position is not None:
                        position.update(batch)
                    if keys_read is not None:
                        keys_read.append(key_columns(batch, key))
                    yield Records(name, batch)
            row = self._count(conn, config, table, where, params, options.checksum_columns)
            sums = dict(zip(options.checksum_columns, row[1:], strict=True))
            yield SourceTotals(name, rows=int(row[0]), sums=sums)
            if keys_read is not None:
                key_schema = pa.schema([schema.field(k) for k in key])
                yield KeySnapshot(name, pa.Table.from_batches(keys_read, key_schema))
            elif wants_keys:
                yield KeySnapshot(name, self._keys(conn, config, table, key))
            # commit ends the snapshot (on SQLite it also releases the read lock)
            conn.commit()
        new_state = dict(state)
        if position is not None:
            new_state["cursor_field"] = cursor_field
            if not key:
                new_state.pop(KEY, None)
            new_state.update(position.state())
            if wants_keys and isinstance(options.detect_deletes, timedelta):
                new_state[KEYS_CHECKED_AT] = now.isoformat()
        yield Checkpoint(name, new_state)

    def _readers(
        self, conn: Any, config: SqlConfig, table: str, where: str, params: tuple, stack: ExitStack
    ) -> list[pa.RecordBatchReader]:
        """Readers of the rows to read: one query, or for a whole large PostgreSQL table one
        per range of its pages, each on its own connection in `conn`'s snapshot."""
        select = f"SELECT * FROM {quoted(config.schema_name, table, config.dsn)}"
        ranges = [""] if where else self._page_ranges(conn, config, table)
        connections = [conn]
        if len(ranges) > 1:
            snapshot = _fetch_one(conn, "SELECT pg_export_snapshot()")[0]
            for _ in ranges[1:]:
                connections.append(stack.enter_context(connect(config.dsn)))
                _import_snapshot(connections[-1], snapshot)
        readers = []
        for connection, clause in zip(connections, ranges, strict=True):
            cursor = connection.cursor()
            stack.callback(cursor.close)
            cursor.adbc_statement.set_options(**_batch_options(config.dsn, config.batch_rows))
            try:
                cursor.execute(f"{select}{where or clause}", params or None)
            except Exception as exc:
                raise SqlSourceError(
                    f"cannot read table {table!r} from {config.dsn}: {exc}"
                ) from exc
            readers.append(cursor.fetch_record_batch())
        return readers

    def _page_ranges(self, conn: Any, config: SqlConfig, table: str) -> list[str]:
        """WHERE clauses that split a large PostgreSQL table into `parallel_reads` ranges of
        its pages (TID range scans: each connection reads only its pages); [""] for one
        range. The last range is open-ended, and the lock (held to the end of the
        transaction) keeps VACUUM FULL or CLUSTER from moving rows between ranges."""
        if is_sqlite(config.dsn) or config.parallel_reads < 2:
            return [""]
        name = quoted(config.schema_name, table, config.dsn)
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(f"LOCK TABLE {name} IN ACCESS SHARE MODE")
            finally:
                cursor.close()
            size, block = _fetch_one(
                conn,
                "SELECT pg_relation_size($1::regclass), current_setting('block_size')::int",
                (name,),
            )
        except Exception as exc:
            raise SqlSourceError(f"cannot read table {table!r} from {config.dsn}: {exc}") from exc
        if size < PARALLEL_MIN_BYTES:
            return [""]
        n, pages = config.parallel_reads, size // block
        edges = [None, *(pages * i // n for i in range(1, n)), None]
        clauses = []
        for low, high in pairwise(edges):
            bounds = [f"ctid >= '({low},0)'"] if low is not None else []
            bounds += [f"ctid < '({high},0)'"] if high is not None else []
            clauses.append(" WHERE " + " AND ".join(bounds))
        return clauses

    def _position_key(
        self,
        conn: Any,
        config: SqlConfig,
        stream: ConfiguredAirbyteStream,
        table: str,
        schema: pa.Schema,
    ) -> list[str]:
        """The key that orders rows sharing a cursor value: the stream's configured
        primary key, else the table's; none means `>=` (rows at the cursor read again)."""
        configured = stream.primary_key or []
        if any(len(path) != 1 for path in configured):
            return []  # nested paths are not columns
        key = [path[0] for path in configured] or primary_key(
            conn, config.dsn, config.schema_name, table
        )
        missing = [k for k in key if k not in schema.names]
        if missing:
            raise SqlSourceError(
                f"{stream.stream.name}: primary_key {', '.join(missing)} is not a column of "
                f"{table!r} (columns: {', '.join(schema.names)})"
            )
        return key


if __name__ == "__main__":
    from ingestion.airbyte_cli import run

    sys.exit(run(SqlSource()))
