"""Read tables from SQLite or PostgreSQL as Arrow batches through ADBC, streaming.

ADBC hands over columnar batches straight from the driver (COPY on PostgreSQL), so a
table is never loaded whole and no record goes through Python one by one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from ingestion.connections import SqlConfig, StreamConfig
from ingestion.sources import StreamRead

SQLITE_PREFIX = "sqlite:///"


class SqlSourceError(RuntimeError):
    """The database cannot be reached or the table cannot be read."""


def redact(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    if "://" in dsn and "@" in dsn:
        scheme, rest = dsn.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return dsn


@contextmanager
def connect(dsn: str) -> Iterator[Any]:
    try:
        if dsn.startswith(SQLITE_PREFIX):
            import adbc_driver_sqlite.dbapi as sqlite

            path = Path(dsn.removeprefix(SQLITE_PREFIX))
            if not path.exists():
                raise SqlSourceError(f"SQLite database {path} does not exist")
            # read-only: a sync must never be able to change its source
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
        raise SqlSourceError(f"cannot connect to {redact(dsn)}: {exc}") from exc
    try:
        yield conn
    finally:
        conn.close()


def _batch_options(dsn: str, batch_rows: int) -> dict[str, str]:
    if dsn.startswith(SQLITE_PREFIX):
        return {"adbc.sqlite.query.batch_rows": str(batch_rows)}
    # PostgreSQL batches by size: about 200 bytes per row is typical for OLTP tables
    return {"adbc.postgresql.batch_size_hint_bytes": str(batch_rows * 200)}


@contextmanager
def read_table(config: SqlConfig, stream: StreamConfig) -> Iterator[StreamRead]:
    """Stream a whole table (full refresh). The table name was validated as an identifier."""
    table = stream.table or stream.name
    with connect(config.dsn) as conn:
        count_cursor = conn.cursor()
        try:
            count_cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            source_rows = int(count_cursor.fetchone()[0])
        except Exception as exc:
            raise SqlSourceError(
                f"cannot read table {table!r} from {redact(config.dsn)}: {exc}"
            ) from exc
        finally:
            count_cursor.close()
        cursor = conn.cursor()
        cursor.adbc_statement.set_options(**_batch_options(config.dsn, config.batch_rows))
        cursor.execute(f'SELECT * FROM "{table}"')
        reader: pa.RecordBatchReader = cursor.fetch_record_batch()
        try:
            yield StreamRead(schema=reader.schema, batches=iter(reader), source_rows=source_rows)
        finally:
            cursor.close()
