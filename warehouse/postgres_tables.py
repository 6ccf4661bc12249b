"""Replace a PostgreSQL table with Arrow record batches, atomically, through ADBC.

The machinery under the raw loaders (`warehouse.postgres_raw`, `warehouse.postgres_ops`): names
checked, Arrow types mapped to ones PostgreSQL takes, rows streamed into ADBC's bulk ingest
(COPY), and the new table swapped in within one transaction.

A reader sees the old rows or the new ones, never half a load; a failed load rolls back
and leaves the old table as it was; a rerun replaces the table with the same rows. When
views depend on the table (dbt's staging views), it is refilled in place instead of
dropped, so the views survive; only when columns changed incompatibly are those views
dropped with it (dbt recreates them on its next build).
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from common.redaction import error_line as first_line
from lake.errors import LakeError
from lake.storage import Lake

log = logging.getLogger(__name__)

# lowercase, so dbt's unquoted names find them; 63 bytes is PostgreSQL's identifier limit
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
MAX_IDENTIFIER_BYTES = 63
# hive partition values arrive as strings; these get their real type (as DuckDB infers it)
PARTITION_TYPES: dict[str, pa.DataType] = {"extracted_date": pa.date32()}


class PostgresLoadError(LakeError):
    """The lake cannot be loaded into PostgreSQL: which table and why."""


# -- names ------------------------------------------------------------------------------------
def check_identifier(name: str, what: str) -> str:
    """A schema or table name we create: lowercase letters, digits and underscores."""
    if not _IDENTIFIER.match(name) or len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise PostgresLoadError(
            f"{what} {name!r} cannot be a PostgreSQL name: expected lowercase letters, digits "
            f"and underscores, starting with a letter or underscore, at most "
            f"{MAX_IDENTIFIER_BYTES} bytes"
        )
    return name


def quote_ident(*names: str) -> str:
    return ".".join('"' + name.replace('"', '""') + '"' for name in names)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- Arrow types PostgreSQL takes -------------------------------------------------------------
def is_json(t: pa.DataType) -> bool:
    """Values stored as jsonb: nested values PostgreSQL has no column type for, and Arrow's
    JSON extension type (text already holding JSON)."""
    if isinstance(t, pa.JsonType):
        return True
    if pa.types.is_dictionary(t):
        return is_json(t.value_type)
    if pa.types.is_struct(t) or pa.types.is_map(t) or pa.types.is_union(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        # arrays of scalars are PostgreSQL arrays; arrays of arrays or of objects are JSON
        return is_json(t.value_type) or pa.types.is_list(t.value_type)
    return False


def postgres_type(t: pa.DataType, name: str = "") -> pa.DataType:
    """The Arrow type a column is ingested as: one ADBC maps to a plain PostgreSQL type."""
    if is_json(t):
        return pa.string()  # cast to jsonb once loaded
    if isinstance(t, pa.ExtensionType):
        return postgres_type(t.storage_type, name)
    if pa.types.is_dictionary(t):
        return postgres_type(t.value_type, name)
    if name in PARTITION_TYPES and pa.types.is_string(t):
        return PARTITION_TYPES[name]
    if pa.types.is_null(t):
        return pa.string()  # all nulls so far, no type seen yet: text
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if (
        pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    ):
        return pa.binary()
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_time32(t):
        return pa.time64("us")
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_uint8(t):
        return pa.int16()
    if pa.types.is_uint16(t):
        return pa.int32()
    if pa.types.is_uint32(t):
        return pa.int64()
    if pa.types.is_uint64(t):
        return pa.decimal128(20, 0)  # beyond bigint: numeric
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return pa.list_(postgres_type(t.value_type))
    return t


def postgres_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of the table: plain types, nullable columns, checked names."""
    seen: set[str] = set()
    fields = []
    for f in schema:
        if not f.name or len(f.name.encode()) > MAX_IDENTIFIER_BYTES or "\x00" in f.name:
            raise PostgresLoadError(
                f"column {f.name!r} cannot be a PostgreSQL column name "
                f"(1 to {MAX_IDENTIFIER_BYTES} bytes, no NUL)"
            )
        if f.name in seen:
            raise PostgresLoadError(f"column {f.name!r} appears twice")
        seen.add(f.name)
        fields.append(pa.field(f.name, postgres_type(f.type, f.name), nullable=True))
    return pa.schema(fields)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _to_json(column: pa.Array) -> pa.Array:
    """Nested values as JSON text (rare in bronze; a Python loop over that column only)."""
    if isinstance(column, pa.ExtensionArray):
        return column.storage.cast(pa.string())
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return pa.array(
        [
            None if v is None else json.dumps(_jsonable(v), default=str, ensure_ascii=False)
            for v in column.to_pylist()
        ],
        pa.string(),
    )


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A batch in the table's schema (columns in order, types mapped)."""
    columns = []
    for field in schema:
        column = batch.column(field.name)
        if column.type == field.type:
            columns.append(column)
        elif is_json(column.type):
            columns.append(_to_json(column))
        else:
            safe = not pa.types.is_date64(column.type)  # date64 may hold a time of day
            columns.append(pc.cast(column, field.type, safe=safe))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


# -- reading the lake ------------------------------------------------------------------------
def parquet_dataset(lake: Lake, base: str, paths: list[str], what: str) -> ds.Dataset:
    """Parquet files as one dataset: columns unioned by name across files (types promoted
    where they differ), hive partition columns (key=value folders under `base`) included."""
    factory = ds.FileSystemDatasetFactory(
        lake.fs,
        paths,
        ds.ParquetFileFormat(),
        ds.FileSystemFactoryOptions(
            partition_base_dir=base,
            partitioning=ds.HivePartitioning.discover(infer_dictionary=False),
        ),
    )
    try:
        return factory.finish(factory.inspect(promote_options="permissive", fragments=None))
    except (OSError, pa.ArrowException) as exc:
        raise PostgresLoadError(
            f"cannot read {what} in {lake.url} (nothing was loaded): {first_line(exc)}"
        ) from exc


# -- PostgreSQL -------------------------------------------------------------------------------
# what dbt's postgres target has no default for (dbt_project/profiles.yml); the password may
# be empty (trust or peer authentication), the schema defaults to dbt
DBT_PG_REQUIRED = ("DBT_PG_HOST", "DBT_PG_PORT", "DBT_PG_USER", "DBT_PG_DATABASE")


def missing_dbt_pg_settings(env: Mapping[str, str]) -> list[str]:
    """The DBT_PG_* variables the postgres target needs that are unset or empty."""
    return [name for name in DBT_PG_REQUIRED if not env.get(name)]


def dsn_from_env(env: Mapping[str, str] | None = None) -> str:
    """The DSN of the database dbt's postgres target uses (DBT_PG_* in the environment)."""
    env = os.environ if env is None else env
    missing = missing_dbt_pg_settings(env)
    if missing:
        raise PostgresLoadError(
            f"{', '.join(missing)} not set: the dbt target postgres has no default database"
        )
    user = env["DBT_PG_USER"]
    password = env.get("DBT_PG_PASSWORD") or ""
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    host = env["DBT_PG_HOST"]
    port = env["DBT_PG_PORT"]
    database = quote(env["DBT_PG_DATABASE"], safe="")
    sslmode = env.get("DBT_PG_SSLMODE") or "prefer"
    return f"postgresql://{auth}@{host}:{port}/{database}?sslmode={quote(sslmode, safe='')}"


def connect(dsn: str):
    """An ADBC connection (autocommit off: each load is one transaction)."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    try:
        return adbc_pg.connect(dsn)
    except Exception as exc:  # the driver raises its own DB-API errors
        raise PostgresLoadError(f"cannot connect to PostgreSQL: {first_line(exc)}") from exc


def create_schemas(connection, names: Iterable[str]) -> None:
    cursor = connection.cursor()
    try:
        for name in sorted(set(names)):
            cursor.execute(f"create schema if not exists {quote_ident(name)}")
        connection.commit()
    except Exception as exc:
        connection.rollback()
        raise PostgresLoadError(f"cannot create the schemas: {first_line(exc)}") from exc
    finally:
        cursor.close()


def _columns(cursor, schema: str, table: str) -> list[tuple[str, str]] | None:
    """(name, type) of a table's columns in order; None when there is no such table."""
    regclass = f"to_regclass({_literal(quote_ident(schema, table))})"
    cursor.execute(f"select {regclass} is not null")
    if not cursor.fetchone()[0]:
        return None
    cursor.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
        f"where a.attrelid = {regclass} and a.attnum > 0 and not a.attisdropped "
        "order by a.attnum"
    )
    return [(name, kind) for name, kind in cursor.fetchall()]


def _dependent_views(cursor, schema: str, table: str) -> list[str]:
    """Views (and materialized views) that read the table, as schema.name."""
    cursor.execute(
        "select distinct v.oid::regclass::text from pg_depend d "
        "join pg_rewrite r on r.oid = d.objid "
        "join pg_class v on v.oid = r.ev_class "
        f"where d.refobjid = to_regclass({_literal(quote_ident(schema, table))}) "
        "and d.classid = 'pg_rewrite'::regclass and v.oid <> d.refobjid order by 1"
    )
    return [row[0] for row in cursor.fetchall()]


def _swap(cursor, schema: str, table: str, loaded: str) -> None:
    """Put the loaded table in the place of `table` (inside the caller's transaction)."""
    target, source = quote_ident(schema, table), quote_ident(schema, loaded)
    old = _columns(cursor, schema, table)
    views = _dependent_views(cursor, schema, table) if old is not None else []
    if views:
        old_types = dict(old or [])
        new_types = dict(_columns(cursor, schema, loaded) or [])
        if all(new_types.get(name) == kind for name, kind in old_types.items()):
            # keep the table (and the views on it): add the new columns, refill it
            for name, kind in new_types.items():
                if name not in old_types:
                    cursor.execute(f"alter table {target} add column {quote_ident(name)} {kind}")
            names = ", ".join(quote_ident(name) for name in new_types)
            cursor.execute(f"truncate table {target}")
            cursor.execute(f"insert into {target} ({names}) select {names} from {source}")
            cursor.execute(f"drop table {source}")
            return
        log.warning(
            "%s.%s: columns changed incompatibly; dropping the views on it (%s), "
            "dbt build recreates them",
            schema,
            table,
            ", ".join(views),
        )
    cursor.execute(f"drop table if exists {target} cascade")
    cursor.execute(f"alter table {source} rename to {quote_ident(table)}")


def replace_table(
    connection,
    schema: str,
    table: str,
    arrow_schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    what: str,
) -> int:
    """Replace schema.table with the batches' rows in one transaction; the rows loaded.
    `what` names the data for errors (e.g. "bronze shop.orders")."""
    check_identifier(schema, "schema")
    check_identifier(table, "table")
    target_schema = postgres_schema(arrow_schema)
    jsonb = [f.name for f in arrow_schema if is_json(f.type)]
    rows = 0

    def conformed() -> Iterator[pa.RecordBatch]:
        nonlocal rows
        for batch in batches:
            rows += batch.num_rows
            yield conform(batch, target_schema)

    loaded = f"_load_{uuid.uuid4().hex[:16]}"
    cursor = connection.cursor()
    try:
        # one loader per table at a time; the lock ends with the transaction
        cursor.execute(f"select pg_advisory_xact_lock(hashtext({_literal(schema + '.' + table)}))")
        cursor.adbc_ingest(
            loaded,
            pa.RecordBatchReader.from_batches(target_schema, conformed()),
            mode="create",
            db_schema_name=schema,
        )
        for name in jsonb:
            column = quote_ident(name)
            cursor.execute(
                f"alter table {quote_ident(schema, loaded)} "
                f"alter column {column} type jsonb using {column}::jsonb"
            )
        # statistics now, not whenever autovacuum gets to it: without them the planner
        # guesses row counts and picks nested loops for joins over millions of rows
        cursor.execute(f"analyze {quote_ident(schema, loaded)}")
        _swap(cursor, schema, table, loaded)
        connection.commit()
    except Exception as exc:
        connection.rollback()
        raise PostgresLoadError(
            f"loading {what} into {schema}.{table} failed (the previous table is unchanged): "
            f"{first_line(exc)}"
        ) from exc
    finally:
        cursor.close()
    return rows
