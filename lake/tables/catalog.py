"""The lake's DuckLake: where its catalog is, and DuckDB connections that attach it.

Silver and gold are DuckLake tables: their data are Parquet files in the lake (`silver/`
for dbt's `intermediate` schema, `gold/` for `marts`), their metadata (which files make up
which table at which snapshot, deletes, schema) in one catalog, a SQLite file beside the
lake by default (LAKE_CATALOG; several processes may read and write it) or a PostgreSQL
database in server mode (`postgres:<libpq key=value string>` or `postgresql://user@host/db`;
its password only from LAKE_CATALOG_PASSWORD).

Every attacher passes the data path it knows (`override_data_path`): the catalog stores file
paths relative to it, so the same catalog serves from wherever the lake is mounted. A lake in
a bucket is read and written by DuckDB's httpfs (native S3) with a secret built from the
lake's LAKE_S3_* settings. Secrets (the catalog's password, the S3 keys) live only in the
connection's temporary DuckDB secrets, never in an ATTACH statement: the serving catalog
stores that statement (serving/duckdb_catalog.py), so a reader of it supplies its own
(`add_secrets`).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from common.redaction import error_line, redact
from lake.errors import LakeError
from lake.location import Location, S3Settings, duckdb_s3_secret_sql, sql_string

ALIAS = "lake"  # the name the DuckLake is attached as (dbt's `database` for silver and gold)
SQLITE = "sqlite:"
POSTGRES = "postgres:"
POSTGRES_URLS = ("postgresql://", "postgres://")
PASSWORD_VARIABLE = "LAKE_CATALOG_PASSWORD"  # the PostgreSQL catalog role's password
# what a PostgreSQL catalog's connection string may say (libpq keywords, in the order the
# normalized string gives them); no password
POSTGRES_KEYS = ("host", "hostaddr", "port", "dbname", "user", "sslmode", "sslrootcert",
                 "connect_timeout")  # fmt: skip
# dbt schema -> folder of its tables' data files under the lake root
SCHEMA_FOLDERS = {"intermediate": "silver", "marts": "gold"}
# the Parquet codec of each schema's files (Snappy for silver, ZSTD for gold, as before)
SCHEMA_COMPRESSION = {"intermediate": "snappy", "marts": "zstd"}


BUSY_TIMEOUT_MS = 30_000  # how long a SQLite catalog access waits for another's lock
DUCKLAKE_MARKER = "ducklake_metadata"  # the table every DuckLake catalog has


class CatalogError(LakeError):
    """The catalog cannot be opened; the message names it and what to do."""


@dataclass(frozen=True)
class TableCatalog:
    """A DuckLake: its catalog (`sqlite:/abs/file` or `postgres:<conninfo>`) and data path."""

    catalog: str  # never holds a password
    data_path: str  # the lake root, ending in "/"
    busy_timeout_ms: int = BUSY_TIMEOUT_MS  # a SQLite catalog: how long to wait for a lock
    # a read-only copy of a SQLite catalog that nothing writes (lake/tables/frozen.py)
    frozen: bool = False
    # from the environment: the PostgreSQL catalog's password, a bucket's S3 settings
    password: str | None = field(default=None, repr=False, compare=False)
    s3: S3Settings | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, catalog: str, lake_uri: str, env: Mapping[str, str] | None = None) -> TableCatalog:
        env = os.environ if env is None else env
        data_path = lake_uri.rstrip("/") + "/"
        s3 = S3Settings.from_env(env) if data_path.startswith(("s3://", "s3a://")) else None
        if is_postgres(catalog):
            return cls(
                catalog=postgres_catalog(catalog),
                data_path=data_path,
                password=env.get(PASSWORD_VARIABLE) or None,
                s3=s3,
            )
        if not catalog.startswith(SQLITE):
            raise CatalogError(
                f"LAKE_CATALOG={redact(catalog)!r}: expected sqlite:/abs/path.sqlite, "
                "postgres:<libpq key=value string> or postgresql://user@host:port/dbname"
            )
        path = Path(catalog.removeprefix(SQLITE)).expanduser()
        if not path.is_absolute():
            raise CatalogError(f"LAKE_CATALOG={catalog!r}: the SQLite path must be absolute")
        return cls(catalog=catalog, data_path=data_path, s3=s3)

    @classmethod
    def beside(cls, location: Location) -> TableCatalog:
        """The embedded default of a local lake: a SQLite file beside its folder,
        `<lake>.sqlite` (DATA_DIR/lake -> DATA_DIR/lake.sqlite)."""
        if location.is_s3:
            raise CatalogError(
                f"the lake {location.url} is in a bucket: its catalog cannot sit beside it; "
                "set LAKE_CATALOG"
            )
        return cls.of(f"{SQLITE}{location.root.rstrip('/')}.sqlite", location.uri())

    @property
    def sqlite_path(self) -> Path | None:
        return Path(self.catalog.removeprefix(SQLITE)) if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.catalog.startswith(SQLITE)

    @property
    def name(self) -> str:
        """The catalog for messages: the SQLite path, or the PostgreSQL connection string
        (which holds no password)."""
        if self.is_sqlite:
            return str(self.sqlite_path)
        return f"PostgreSQL {self.catalog.removeprefix(POSTGRES)}"

    def attach_sql(
        self, alias: str = ALIAS, read_only: bool = False, snapshot: int | None = None
    ) -> str:
        """The ATTACH statement; no secret in it (`secrets_sql` makes those)."""
        options = [f"DATA_PATH {sql_string(self.data_path)}", "OVERRIDE_DATA_PATH true"]
        if self.frozen:
            read_only = True  # and no journal mode to set: nothing writes it
        elif self.is_sqlite:
            # as the dbt profile: readers never block the writer's commits, nor it their reads
            options += ["META_JOURNAL_MODE 'WAL'", f"META_BUSY_TIMEOUT {int(self.busy_timeout_ms)}"]
        else:
            # the PostgreSQL attach of the catalog takes its password from this secret
            options.append(f"META_SECRET {sql_string(_secret_name(alias, 'catalog'))}")
        if read_only:
            options.append("READ_ONLY")
        if snapshot is not None:
            options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
        return (
            f"attach if not exists {sql_string('ducklake:' + self.catalog)} as {alias} "
            f"({', '.join(options)})"
        )

    def secrets_sql(self, alias: str = ALIAS) -> list[str]:
        """Temporary DuckDB secrets for this connection: the PostgreSQL catalog's password,
        and httpfs's S3 access to the bucket of the data files."""
        statements = []
        if not self.is_sqlite:
            password = f", password {sql_string(self.password)}" if self.password else ""
            statements.append(
                f"create or replace temporary secret {_secret_name(alias, 'catalog')} "
                f"(type postgres{password})"
            )
        if self.s3 is not None:
            name = _secret_name(alias, "s3")
            statements.append(duckdb_s3_secret_sql(name, self.s3, self.data_path))
        return statements


def is_postgres(catalog: str) -> bool:
    return catalog.startswith((POSTGRES, *POSTGRES_URLS))


def postgres_catalog(value: str) -> str:
    """LAKE_CATALOG's PostgreSQL forms (`postgres:host=... dbname=... user=...` or
    `postgresql://user@host:port/dbname`) as DuckLake's `postgres:<conninfo>`, validated:
    libpq keywords only, a database and a user named, no password (LAKE_CATALOG_PASSWORD)."""
    conninfo = value.removeprefix(POSTGRES) if value.startswith(POSTGRES) else value
    shown = f"LAKE_CATALOG={redact(value)!r}"
    try:
        params = conninfo_to_dict(conninfo)
    except Exception as exc:  # psycopg.ProgrammingError: libpq's own message
        detail = error_line(exc)
        raise CatalogError(f"{shown}: not a PostgreSQL connection string ({detail})") from None
    if "password" in params:
        raise CatalogError(
            f"{shown}: holds a password; give it in {PASSWORD_VARIABLE} instead (the catalog "
            "string is printed and recorded, the password must not be)"
        )
    unknown = sorted(set(params) - set(POSTGRES_KEYS))
    if unknown:
        allowed = ", ".join(POSTGRES_KEYS)
        raise CatalogError(f"{shown}: unexpected parameter {unknown[0]!r} (allowed: {allowed})")
    missing = [key for key in ("dbname", "user") if not params.get(key)]
    if missing:
        raise CatalogError(f"{shown}: no {missing[0]} (the catalog's own database and role)")
    return POSTGRES + make_conninfo(**{key: params[key] for key in POSTGRES_KEYS if key in params})


def _secret_name(alias: str, what: str) -> str:
    return f"{alias}_{what}"


def check_catalog(tables: TableCatalog) -> None:
    """Refuse a SQLite catalog that is not a SQLite database, or a SQLite database of
    something else (attaching it read-write would add DuckLake's tables to it): nothing is
    rewritten."""
    path = tables.sqlite_path
    if path is None or not path.exists():
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = {n for (n,) in conn.execute("select name from sqlite_master")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if "locked" in str(exc):
            return  # attach waits for it, then says so (_explain)
        raise CatalogError(
            f"the lake's catalog {path} cannot be opened ({exc}): restore it from a backup "
            "or point LAKE_CATALOG at the right file; nothing was changed"
        ) from exc
    if names and DUCKLAKE_MARKER not in names:
        raise CatalogError(
            f"the lake's catalog {path} is a SQLite database but not a DuckLake catalog "
            f"(no table {DUCKLAKE_MARKER}): point LAKE_CATALOG at the lake's catalog, or at a "
            "new file; nothing was changed"
        )


def add_secrets(con: duckdb.DuckDBPyConnection, tables: TableCatalog) -> None:
    """Create the connection's secrets for the DuckLake (before its ATTACH). A failure is
    reported without the statement, which holds the secret."""
    for statement in tables.secrets_sql():
        try:
            con.execute(statement)
        except duckdb.Error as exc:
            kind = "S3" if "type s3" in statement else "PostgreSQL"
            raise CatalogError(
                f"cannot create the {kind} secret of the lake's catalog {tables.name}: "
                f"{type(exc).__name__} (is the extension installed? run `make setup`)"
            ) from None


def connect(
    tables: TableCatalog,
    read_only: bool = False,
    snapshot: int | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (a new in-memory one unless given) with the DuckLake attached as
    `lake`: read-only and pinned to a snapshot for readers; the data files of a lake in a
    bucket through httpfs. Nothing is downloaded: the extensions come from `make setup`
    (lake/tables/extensions.py)."""
    check_catalog(tables)
    if read_only and tables.is_sqlite and not tables.sqlite_path.exists():
        raise CatalogError(f"the lake's catalog {tables.name} does not exist yet: run a build")
    con = connection or duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        add_secrets(con, tables)
        con.execute(tables.attach_sql(read_only=read_only, snapshot=snapshot))
    except LakeError:  # a secret that cannot be made (bad LAKE_S3_ENDPOINT, no extension)
        if connection is None:
            con.close()
        raise
    except duckdb.Error as exc:
        if connection is None:
            con.close()
        raise CatalogError(_explain(tables, exc)) from exc
    return con


def _explain(tables: TableCatalog, exc: duckdb.Error) -> str:
    text = error_line(exc, limit=500)
    if "not found" in text.lower() and "extension" in text.lower():
        hint = "the DuckDB extensions are not installed: run `make setup`"
    elif "locked" in text.lower() or "busy" in text.lower():
        hint = "another process holds it locked: retry when it has finished"
    elif "version" in text.lower():
        hint = _version_hint(text)
    else:
        hint = "check LAKE_CATALOG, LAKE_CATALOG_PASSWORD and the lake URL"
    return f"cannot attach the lake's catalog {tables.name}: {text} ({hint}); nothing was changed"


def _version_hint(text: str) -> str:
    """DuckLake says "catalog version is X, but the extension requires version Y"."""
    found = re.search(r"catalog version is ([\d.]+).*requires version ([\d.]+)", text)
    older = found and _numbers(found.group(1)) < _numbers(found.group(2))
    if older:
        return (
            "it was written by an older DuckLake: back it up, then attach it once with "
            "AUTOMATIC_MIGRATION true"
        )
    return "it was written by a newer DuckLake: upgrade duckdb and its extensions"


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def current_snapshot(con: duckdb.DuckDBPyConnection, alias: str = ALIAS) -> int:
    """The snapshot the attached DuckLake shows (its latest, or the one it is pinned to)."""
    return int(con.execute(f"select id from {alias}.current_snapshot()").fetchone()[0])


def tables_in(con: duckdb.DuckDBPyConnection, schema: str, alias: str = ALIAS) -> list[str]:
    """The tables of a DuckLake schema (`marts`: gold, `intermediate`: silver), sorted."""
    rows = con.execute(
        "select table_name from duckdb_tables() where database_name = ? and schema_name = ? "
        "order by 1",
        [alias, schema],
    ).fetchall()
    return [name for (name,) in rows]
