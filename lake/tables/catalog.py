"""The lake's DuckLake: where its catalog is, and DuckDB connections that attach it.

Silver and gold are DuckLake tables: their data are Parquet files in the lake (`silver/`
for dbt's `intermediate` schema, `gold/` for `marts`), their metadata (which files make up
which table at which snapshot, deletes, schema) in one catalog, a SQLite file beside the
lake by default (LAKE_CATALOG; several processes may read and write it) or a PostgreSQL
database in server mode (`postgres:<libpq connection string>`).

Every attacher passes the data path it knows (`override_data_path`): the catalog stores file
paths relative to it, so the same catalog serves from wherever the lake is mounted.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from lake.errors import LakeError
from lake.location import Location

ALIAS = "lake"  # the name the DuckLake is attached as (dbt's `database` for silver and gold)
SQLITE = "sqlite:"
POSTGRES = "postgres:"
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

    catalog: str
    data_path: str  # the lake root, ending in "/"
    busy_timeout_ms: int = BUSY_TIMEOUT_MS  # a SQLite catalog: how long to wait for a lock

    @classmethod
    def of(cls, catalog: str, lake_uri: str) -> TableCatalog:
        if not catalog.startswith((SQLITE, POSTGRES)):
            raise CatalogError(
                f"LAKE_CATALOG={catalog!r}: expected sqlite:/abs/path.sqlite or "
                "postgres:<connection string>"
            )
        if catalog.startswith(SQLITE):
            path = Path(catalog.removeprefix(SQLITE)).expanduser()
            if not path.is_absolute():
                raise CatalogError(f"LAKE_CATALOG={catalog!r}: the SQLite path must be absolute")
        return cls(catalog=catalog, data_path=lake_uri.rstrip("/") + "/")

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
        """The catalog for messages (no password: only the SQLite path or the word)."""
        return str(self.sqlite_path) if self.is_sqlite else "the PostgreSQL catalog"

    def attach_sql(
        self, alias: str = ALIAS, read_only: bool = False, snapshot: int | None = None
    ) -> str:
        options = [f"DATA_PATH {_quote(self.data_path)}", "OVERRIDE_DATA_PATH true"]
        if self.is_sqlite:
            # as the dbt profile: readers never block the writer's commits, nor it their reads
            options += ["META_JOURNAL_MODE 'WAL'", f"META_BUSY_TIMEOUT {int(self.busy_timeout_ms)}"]
        if read_only:
            options.append("READ_ONLY")
        if snapshot is not None:
            options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
        return (
            f"attach if not exists {_quote('ducklake:' + self.catalog)} as {alias} "
            f"({', '.join(options)})"
        )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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


def connect(
    tables: TableCatalog,
    read_only: bool = False,
    snapshot: int | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
    filesystem: Any = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (a new in-memory one unless given) with the DuckLake attached as
    `lake`: read-only and pinned to a snapshot for readers. `filesystem`: the fsspec
    filesystem of a lake in a bucket (Location.fsspec_filesystem). Nothing is downloaded:
    the extensions come from `make setup` (lake/tables/extensions.py)."""
    check_catalog(tables)
    if read_only and tables.is_sqlite and not tables.sqlite_path.exists():
        raise CatalogError(f"the lake's catalog {tables.name} does not exist yet: run a build")
    con = connection or duckdb.connect(config={"autoinstall_known_extensions": False})
    if filesystem is not None:
        con.register_filesystem(filesystem)
    try:
        con.execute(tables.attach_sql(read_only=read_only, snapshot=snapshot))
    except duckdb.Error as exc:
        if connection is None:
            con.close()
        raise CatalogError(_explain(tables, exc)) from exc
    return con


def _explain(tables: TableCatalog, exc: duckdb.Error) -> str:
    text = str(exc).strip().splitlines()[0]
    if "not found" in text.lower() and "extension" in text.lower():
        hint = "the DuckDB extensions are not installed: run `make setup`"
    elif "locked" in text.lower() or "busy" in text.lower():
        hint = "another process holds it locked: retry when it has finished"
    elif "version" in text.lower():
        hint = _version_hint(text)
    else:
        hint = "check LAKE_CATALOG and the lake URL"
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
