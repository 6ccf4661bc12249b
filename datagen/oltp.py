"""Write the shop tables into the OLTP database: SQLite (embedded) or PostgreSQL.

Both go through ADBC bulk ingestion (COPY on PostgreSQL), with explicit DDL so the
tables carry primary keys and proper types, as a real application's schema would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from common.redaction import redact

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


class OltpError(RuntimeError):
    """The OLTP database cannot be reached or written; the message says which and why."""


def dialect_of(dsn: str) -> str:
    if dsn.startswith(SQLITE_PREFIX):
        return "sqlite"
    if dsn.startswith(POSTGRES_PREFIXES):
        return "postgresql"
    raise OltpError(
        f"unsupported OLTP_DSN {redact(dsn)!r}: expected sqlite:///path/to/file.db "
        "or postgresql://user:password@host:port/database"
    )


@contextmanager
def connect(dsn: str) -> Iterator[Any]:
    """An ADBC DB-API connection for a sqlite:/// or postgresql:// DSN."""
    dialect = dialect_of(dsn)
    try:
        if dialect == "sqlite":
            import adbc_driver_sqlite.dbapi as driver

            path = Path(dsn.removeprefix(SQLITE_PREFIX))
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = driver.connect(str(path))
        else:
            import adbc_driver_postgresql.dbapi as driver

            conn = driver.connect(dsn)
    except Exception as exc:  # the driver's own error types differ; the reason is in str(exc)
        raise OltpError(redact(f"cannot connect to OLTP database {dsn}: {exc}")) from exc
    try:
        yield conn
    finally:
        conn.close()


def _column_type(arrow_type: pa.DataType, dialect: str) -> str:
    if pa.types.is_integer(arrow_type):
        return "BIGINT" if dialect == "postgresql" else "INTEGER"
    if pa.types.is_floating(arrow_type):
        return "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    if pa.types.is_timestamp(arrow_type):
        # SQLite has no timestamp type: ISO-8601 text, as applications store it
        return "TIMESTAMPTZ" if dialect == "postgresql" else "TEXT"
    if pa.types.is_date(arrow_type):
        return "DATE" if dialect == "postgresql" else "TEXT"
    return "TEXT"


def create_table_sql(name: str, table: pa.Table, dialect: str) -> str:
    """DDL with the first column as primary key and NOT NULL where the data has no nulls."""
    columns = []
    for i, field in enumerate(table.schema):
        column = f'"{field.name}" {_column_type(field.type, dialect)}'
        if i == 0:
            column += " PRIMARY KEY"
        elif table.column(i).null_count == 0:
            column += " NOT NULL"
        columns.append(column)
    return f'CREATE TABLE "{name}" ({", ".join(columns)})'


def write_tables(dsn: str, tables: dict[str, pa.Table]) -> None:
    """Replace the given tables in the OLTP database with the generated data."""
    dialect = dialect_of(dsn)
    with connect(dsn) as conn:
        cursor = conn.cursor()
        for name, table in tables.items():
            cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
            cursor.execute(create_table_sql(name, table, dialect))
            cursor.adbc_ingest(name, table, mode="append")
            cursor.execute(f'CREATE INDEX "ix_{name}_updated_at" ON "{name}" ("updated_at")')
        conn.commit()
        cursor.close()
