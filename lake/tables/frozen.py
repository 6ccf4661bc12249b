"""Frozen catalogs: a read-only copy of a SQLite DuckLake catalog, for readers pinned to a
snapshot.

Why readers do not read the live SQLite catalog: DuckLake (the extension for duckdb 1.5.5)
reads a table's metadata from SQLite in several statements, each its own SQLite read
transaction. When a writer commits between them, a read pinned to an earlier snapshot can mix
the two states and return wrong rows. A commit that deletes from a data file that has deletes
already replaces that file's delete file, and a pinned `count(*)` or `sum` then misses rows
or counts the new ones. Seen with dbt's incremental merges while dashboards read
(docs/lake.md has the reproduction). A PostgreSQL catalog is read in one transaction and does
not show it.

A frozen copy is taken with SQLite's online backup (one consistent read, milliseconds for a
catalog of a few MB) and never changes afterwards. It names the same data files: nothing is
copied but metadata. The files it reads stay in the lake as long as maintenance knows the copy
may be read (`lake/tables/maintenance.py`: files unreferenced since the oldest copy are kept).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

from lake.storage import TMP_PREFIX
from lake.tables.catalog import CatalogError, TableCatalog, check_catalog

SUFFIX = ".lake.sqlite"  # a frozen copy's file name ends so


def freeze(tables: TableCatalog, target: Path) -> TableCatalog:
    """Copy a SQLite catalog to `target` (written under a temporary name, then renamed) and
    return the copy as a read-only catalog of the same lake. A PostgreSQL catalog is returned
    as it is: its reads are consistent. The copy's modification time is when its read
    began: no file the catalog dropped after that is missing from it."""
    source = tables.sqlite_path
    if source is None:
        return tables
    check_catalog(tables)
    if not source.exists():
        raise CatalogError(f"the lake's catalog {tables.name} does not exist yet: run a build")
    temporary = target.with_name(f"{TMP_PREFIX}{target.name}")
    began = time.time()
    try:
        live = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=60)
        try:
            copy = sqlite3.connect(temporary)
            try:
                live.backup(copy)
                # a rollback journal: a WAL-mode database cannot be opened read-only by a
                # reader that may not create its -shm file
                copy.execute("pragma journal_mode=delete")
            finally:
                copy.close()
        finally:
            live.close()
        os.chmod(temporary, 0o444)
        os.utime(temporary, (began, began))
        os.replace(temporary, target)
    except sqlite3.Error as exc:
        raise CatalogError(
            f"cannot copy the lake's catalog {tables.name} to {target} ({exc}); nothing was changed"
        ) from exc
    finally:
        temporary.unlink(missing_ok=True)
    return replace(tables, catalog=f"sqlite:{target}", frozen=True)


def moved(copy: TableCatalog, target: Path) -> TableCatalog:
    """A frozen copy renamed to `target`."""
    os.replace(copy.sqlite_path, target)
    return replace(copy, catalog=f"sqlite:{target}")
