"""Publish gold to the serving layer of server mode: PostgreSQL's `analytics` schema.

Superset (and any other reader) reads `analytics.<mart>` through a login role that is a
member of the `NOLOGIN` group role `analytics_reader`: USAGE on the schema, SELECT on its
tables (granted on every publish and by default privileges), nothing else. The publisher
(the role in `SERVING_PG_DSN`, which owns the schema) is the only writer.

Each publish copies every gold mart into the schema and swaps the copies in **in one
transaction**: readers see the previous publication or the new one, whole, never a mix,
never a missing table. Two sources, the same result:

- the gold DuckLake tables of the lake (`lake=`, `tables=`), all as of one snapshot: the
  DuckDB engine, the embedded default's lake in a PostgreSQL serving database. Rows stream
  through ADBC's bulk ingest (COPY);
- the `marts` schema of the same database (`source_schema="marts"`): dbt's postgres target.
  `create table ... as table marts.<mart>`, no byte leaves the server.

Why copies and not views over `marts`: dbt-postgres rebuilds a table by renaming the old
one to a backup and dropping that backup with CASCADE, which would drop every view over it
at each build, and the marts change one by one while dbt runs (a dashboard would mix old
and new marts, or read a mart whose tests have not passed yet). The copies change only
when the build is done and published, as the embedded catalog does.

Locks: the swap drops the old tables, which waits for the queries reading them to finish;
queries that arrive meanwhile wait for the commit and then read the new tables (PostgreSQL
looks a name up again after waiting for its lock), so a reader waits at most one query's
time and never errors. Every Superset dataset reads one relation, so a reader holds at
most one of these locks and cannot deadlock with the swap.

    python -m serving.postgres_schema publish [--from-lake | --from-schema marts]
    python -m serving.postgres_schema grant-login   # the Superset login role, from the env
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import logging
import os
import secrets
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import duckdb
import pyarrow as pa

from common.redaction import error_line as first_line
from lake.errors import LakeError
from lake.storage import Lake, open_lake
from lake.tables.catalog import ALIAS, TableCatalog, connect, current_snapshot, tables_in
from serving.duckdb_catalog import GOLD_SCHEMA, PUBLICATION_TABLE, SCHEMA
from warehouse.postgres_tables import (
    PostgresLoadError,
    check_identifier,
    conform,
    is_json,
    postgres_schema,
    quote_ident,
)

log = logging.getLogger(__name__)

READER_GROUP = "analytics_reader"
DEFAULT_LOGIN = "superset_reader"
LOAD_PREFIX = "_publish_"  # uncommitted copies; nobody ever sees them
BATCH_ROWS = 65_536
_MIN_PASSWORD_LENGTH = 12
_KNOWN_PASSWORDS = frozenset(
    {"admin", "password", "postgres", "superset", "analytics", "changeme", "secret", "reader"}
)


class ServingError(LakeError):
    """The PostgreSQL serving layer cannot be published or granted; the message says why."""


@dataclass(frozen=True)
class PostgresPublishResult:
    schema: str
    publication_id: str
    models: dict[str, int]  # rows per mart
    dropped: list[str]  # marts published before and gone from gold now
    seconds: float
    swap_seconds: float  # how long the swap held its locks


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def _connection(dsn: str) -> Iterator:
    import adbc_driver_postgresql.dbapi as adbc_pg

    try:
        connection = adbc_pg.connect(dsn)
    except Exception as exc:  # the driver raises its own DB-API errors
        raise ServingError(f"cannot connect to the serving database: {first_line(exc)}") from exc
    try:
        yield connection
    finally:
        connection.close()


def _rows(cursor, sql: str) -> list[tuple]:
    cursor.execute(sql)
    return cursor.fetchall()


# -- the schema and its readers ---------------------------------------------------------------
def _ensure_schema(cursor, schema: str, group: str) -> None:
    """The schema, the reader group and its privileges (inside the caller's transaction)."""
    cursor.execute(f"create schema if not exists {quote_ident(schema)}")
    exists = _rows(cursor, f"select 1 from pg_roles where rolname = {_literal(group)}")
    if not exists:
        cursor.execute(f"create role {quote_ident(group)} nologin")
    cursor.execute(f"grant usage on schema {quote_ident(schema)} to {quote_ident(group)}")
    cursor.execute(
        f"grant select on all tables in schema {quote_ident(schema)} to {quote_ident(group)}"
    )
    # tables the publisher (this role) creates in the schema later are readable too
    cursor.execute(
        f"alter default privileges in schema {quote_ident(schema)} "
        f"grant select on tables to {quote_ident(group)}"
    )


def check_password(password: str | None, what: str) -> str:
    if not password or not password.strip():
        raise ServingError(f"{what} is not set: the password comes from the environment only")
    if password.lower().strip() in _KNOWN_PASSWORDS or len(password) < _MIN_PASSWORD_LENGTH:
        raise ServingError(
            f"{what} is a well-known or short password (need at least "
            f"{_MIN_PASSWORD_LENGTH} characters): generate one with `openssl rand -base64 18`"
        )
    return password


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores, computed here: the password itself
    never travels to the server nor appears in a statement it could log."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def grant_login(
    dsn: str,
    login: str,
    password: str,
    schema: str = SCHEMA,
    group: str = READER_GROUP,
) -> None:
    """Create (or update) the login role Superset connects as: a member of the reader group,
    read-only transactions, the serving schema first on its search path."""
    check_identifier(login, "login role")
    check_identifier(schema, "schema")
    check_identifier(group, "reader group")
    check_password(password, "the serving reader's password (SERVING_PG_READER_PASSWORD)")
    verifier = _literal(scram_verifier(password))
    with _connection(dsn) as connection:
        cursor = connection.cursor()
        try:
            _ensure_schema(cursor, schema, group)
            existing = _rows(
                cursor,
                "select rolsuper or rolcreatedb or rolcreaterole or rolreplication "
                f"or rolbypassrls from pg_roles where rolname = {_literal(login)}",
            )
            if existing and existing[0][0]:
                raise ServingError(
                    f"the role {login!r} exists with privileges beyond reading (superuser, "
                    "createdb, createrole, replication or bypassrls): choose another "
                    "SERVING_PG_READER_USER"
                )
            if existing:
                cursor.execute(f"alter role {quote_ident(login)} login password {verifier}")
            else:
                # only what the group gives it: no superuser, no role or database creation
                cursor.execute(
                    f"create role {quote_ident(login)} login password {verifier} "
                    "nosuperuser nocreatedb nocreaterole noreplication nobypassrls"
                )
            cursor.execute(f"grant {quote_ident(group)} to {quote_ident(login)}")
            cursor.execute(
                f"alter role {quote_ident(login)} set default_transaction_read_only = on"
            )
            cursor.execute(f"alter role {quote_ident(login)} set search_path = {schema}")
            connection.commit()
        except ServingError:
            connection.rollback()
            raise
        except Exception as exc:
            connection.rollback()
            raise ServingError(
                f"cannot set up the login role {login!r}: {first_line(exc)}"
            ) from exc
        finally:
            cursor.close()


def reader_uri(dsn: str, login: str, password: str, driver: str = "postgresql+psycopg2") -> str:
    """The SQLAlchemy URI Superset reads with (SERVING_DATABASE_URI): the publisher's host,
    port and database, the login role's credentials."""
    from urllib.parse import urlsplit

    parts = urlsplit(dsn)
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    query = f"?{parts.query}" if parts.query else ""
    auth = f"{quote(login, safe='')}:{quote(password, safe='')}"
    return f"{driver}://{auth}@{host}{port}{parts.path}{query}"


# -- publishing -------------------------------------------------------------------------------
def _schema_models(cursor, source_schema: str) -> list[str]:
    rows = _rows(
        cursor,
        "select table_name from information_schema.tables "
        f"where table_schema = {_literal(source_schema)} and table_type = 'BASE TABLE' "
        "order by 1",
    )
    # not the leftovers of a dbt build that was interrupted
    return [name for (name,) in rows if not name.endswith(("__dbt_tmp", "__dbt_backup"))]


def _load_from_lake(
    cursor, gold: duckdb.DuckDBPyConnection, model: str, snapshot: int, table: str, schema: str
):
    """Stream one gold table of the DuckLake, as of `snapshot`, into `schema.table`."""
    reader = gold.execute(
        f'select * from {ALIAS}.{GOLD_SCHEMA}."{model}" at (version => {snapshot})'
    ).to_arrow_reader(BATCH_ROWS)
    target = postgres_schema(reader.schema)
    batches = (conform(batch, target) for batch in reader if batch.num_rows)
    cursor.adbc_ingest(
        table,
        pa.RecordBatchReader.from_batches(target, batches),
        mode="create",
        db_schema_name=schema,
    )
    for name in (f.name for f in reader.schema if is_json(f.type)):
        column = quote_ident(name)
        cursor.execute(
            f"alter table {quote_ident(schema, table)} "
            f"alter column {column} type jsonb using {column}::jsonb"
        )


def _load_lake_gold(cursor, lake: Lake, tables: TableCatalog, schema: str) -> dict[str, str]:
    """Every gold table of the lake's DuckLake, all as of one snapshot, into `schema`."""
    gold = connect(tables, read_only=True)
    loaded: dict[str, str] = {}
    try:
        snapshot = current_snapshot(gold)
        for model in tables_in(gold, GOLD_SCHEMA):
            check_identifier(model, "gold mart")
            table = f"{LOAD_PREFIX}{model}"[:63]
            _load_from_lake(cursor, gold, model, snapshot, table, schema)
            loaded[model] = table
    finally:
        gold.close()
    return loaded


def publish_gold_to_postgres(
    dsn: str,
    lake: Lake | None = None,
    source_schema: str | None = None,
    schema: str = SCHEMA,
    group: str = READER_GROUP,
    tables: TableCatalog | None = None,
) -> PostgresPublishResult:
    """Copy every gold mart into `schema` and swap the copies in, in one transaction.

    Exactly one source: `lake` (its gold DuckLake tables; `tables`, default the catalog
    beside a local lake) or `source_schema` (dbt's marts schema in the same database)."""
    if (lake is None) == (source_schema is None):
        raise ValueError("publish from exactly one source: lake= or source_schema=")
    if lake is not None and tables is None:
        tables = TableCatalog.beside(lake.location)
    check_identifier(schema, "schema")
    check_identifier(group, "reader group")
    if source_schema is not None:
        check_identifier(source_schema, "source schema")
    started = time.perf_counter()
    publication_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]
    with _connection(dsn) as connection:
        cursor = connection.cursor()
        try:
            # one publisher at a time; the lock ends with the transaction
            cursor.execute(
                f"select pg_advisory_xact_lock(hashtext({_literal('lakehouse.serving.' + schema)}))"
            )
            _ensure_schema(cursor, schema, group)
            loaded: dict[str, str] = {}  # mart -> its uncommitted copy
            if lake is not None:
                assert tables is not None
                loaded = _load_lake_gold(cursor, lake, tables, schema)
            else:
                assert source_schema is not None
                models = _schema_models(cursor, source_schema)
                if not models:
                    raise ServingError(
                        f"the schema {source_schema!r} holds no table: run dbt build first"
                    )
                for model in models:
                    check_identifier(model, "mart")
                    table = f"{LOAD_PREFIX}{model}"[:63]
                    cursor.execute(
                        f"create table {quote_ident(schema, table)} as "
                        f"table {quote_ident(source_schema, model)}"
                    )
                    loaded[model] = table
            if not loaded:
                raise ServingError("gold holds no mart: run the dbt build first")
            models_rows = {}
            for model, table in loaded.items():
                (count,) = _rows(cursor, f"select count(*) from {quote_ident(schema, table)}")[0]
                models_rows[model] = int(count)
                cursor.execute(f"analyze {quote_ident(schema, table)}")
            publication = f"{LOAD_PREFIX}{PUBLICATION_TABLE}"
            cursor.execute(
                f"create table {quote_ident(schema, publication)} (snapshot_id text, "
                "published_at timestamp, model_name text, row_count bigint)"
            )
            published_at = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
            values = ", ".join(
                f"({_literal(publication_id)}, {_literal(published_at)}::timestamp, "
                f"{_literal(model)}, {rows})"
                for model, rows in models_rows.items()
            )
            cursor.execute(f"insert into {quote_ident(schema, publication)} values {values}")
            previous = _previous_models(cursor, schema)
            loaded[PUBLICATION_TABLE] = publication

            # the swap: short, at the very end of the transaction
            swap_started = time.perf_counter()
            dropped = sorted(set(previous) - set(loaded))
            for model in dropped:
                cursor.execute(f"drop table if exists {quote_ident(schema, model)}")
            for model, table in loaded.items():
                cursor.execute(f"drop table if exists {quote_ident(schema, model)}")
                cursor.execute(
                    f"alter table {quote_ident(schema, table)} rename to {quote_ident(model)}"
                )
                cursor.execute(
                    f"grant select on {quote_ident(schema, model)} to {quote_ident(group)}"
                )
            connection.commit()
            swap_seconds = time.perf_counter() - swap_started
        except ServingError:
            connection.rollback()
            raise
        except Exception as exc:
            connection.rollback()
            raise ServingError(
                f"publishing gold to PostgreSQL schema {schema!r} failed (the previous "
                f"publication is unchanged): {first_line(exc)}"
            ) from exc
        finally:
            cursor.close()
    result = PostgresPublishResult(
        schema=schema,
        publication_id=publication_id,
        models=models_rows,
        dropped=dropped,
        seconds=time.perf_counter() - started,
        swap_seconds=swap_seconds,
    )
    log.info(
        "published %d gold marts (%d rows) to PostgreSQL %s in %.2fs (swap %.3fs)",
        len(models_rows),
        sum(models_rows.values()),
        schema,
        result.seconds,
        swap_seconds,
    )
    return result


def _previous_models(cursor, schema: str) -> list[str]:
    """The marts of the publication being replaced (only those are dropped if gone)."""
    exists = _rows(
        cursor,
        f"select to_regclass({_literal(quote_ident(schema, PUBLICATION_TABLE))}) is not null",
    )[0][0]
    if not exists:
        return []
    rows = _rows(
        cursor, f"select model_name from {quote_ident(schema, PUBLICATION_TABLE)} order by 1"
    )
    return [name for (name,) in rows]


# -- command line -----------------------------------------------------------------------------
def publisher_dsn(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    dsn = (env.get("SERVING_PG_DSN") or "").strip()
    if not dsn:
        raise ServingError(
            "SERVING_PG_DSN is not set: the PostgreSQL database (and the role that owns its "
            "analytics schema) gold is published to, e.g. postgresql://lakehouse:...@host/db"
        )
    return dsn


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.postgres_schema")
    commands = parser.add_subparsers(dest="command", required=True)
    publish = commands.add_parser("publish", help="copy gold into the analytics schema")
    source = publish.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-lake", metavar="LAKE_URL", help="the gold tables of this lake")
    publish.add_argument(
        "--catalog",
        default=os.environ.get("LAKE_CATALOG", ""),
        help="the lake's DuckLake catalog, sqlite:/abs/path or postgres:... (default: "
        "LAKE_CATALOG, else the SQLite file beside a local lake)",
    )
    source.add_argument("--from-schema", metavar="SCHEMA", help="dbt's marts schema (postgres)")
    commands.add_parser(
        "grant-login",
        help="create/update the login role SERVING_PG_READER_USER (default "
        f"{DEFAULT_LOGIN}) with SERVING_PG_READER_PASSWORD; prints SERVING_DATABASE_URI",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        dsn = publisher_dsn()
        if args.command == "publish":
            lake = open_lake(args.from_lake, create=False) if args.from_lake else None
            tables = None
            if lake is not None:
                tables = (
                    TableCatalog.of(args.catalog, lake.uri())
                    if args.catalog
                    else TableCatalog.beside(lake.location)
                )
            result = publish_gold_to_postgres(
                dsn, lake=lake, source_schema=args.from_schema, tables=tables
            )
            print(
                f"published {len(result.models)} marts to {result.schema} in {result.seconds:.1f}s"
            )
        else:
            login = os.environ.get("SERVING_PG_READER_USER") or DEFAULT_LOGIN
            password = os.environ.get("SERVING_PG_READER_PASSWORD") or ""
            grant_login(dsn, login, password)
            print(f"login role {login} can read {SCHEMA}; Superset's SERVING_DATABASE_URI:")
            print(reader_uri(dsn, login, "PASSWORD").replace("PASSWORD@", "<password>@", 1))
    except (ServingError, PostgresLoadError, LakeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
