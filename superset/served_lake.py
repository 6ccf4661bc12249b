"""Superset's DuckDB connections to the serving catalog attach the lake its views read.

The serving catalog (serving/duckdb_catalog.py) holds views pinned to a published DuckLake snapshot,
`select * from lake.marts.<mart> at (version => N)`, and the statement that attaches that
DuckLake read-only as `lake` (`_serving.lake_attachment`): a DuckDB file cannot keep an
attached database, so each process attaches it after opening the catalog.
`install()` makes duckdb-engine open its connections through `connect_to_catalog`:

- the first time a process opens a catalog file, it opens one more connection to it with
  the same arguments and keeps it (the last `KEEP` files). DuckDB shares an open
  database between the connections of a process only while the first one is open; Superset
  opens and closes a connection per query (NullPool), so without it every chart request
  would load the extensions and attach the lake again (0.6-1 s here instead of 5 ms).
- the kept connection reads the attachment statements once; every connection runs them
  (`attach if not exists`: a no-op once attached). Looking the statements up per
  connection cost 25-30 ms: `duckdb_tables()` lists the DuckLake's tables too, and Superset
  opens a connection even for a chart answered from its cache (the dataset's default
  schema).

A new publication is a new file behind the served link: connections opened after the swap
get a new database, pinned to the new snapshot; the kept connection of a superseded file is
closed once `KEEP` newer files have been opened.

Kept here, without the project's packages: Superset runs in its own virtualenv.
"""

from __future__ import annotations

import copy
import os
import threading
from collections import OrderedDict
from typing import Any

ATTACHMENT = "_serving.lake_attachment"
KEEP = 2  # the served catalog and the one before it (queries may still run there)

_kept: OrderedDict[str, tuple[Any, list[str]]] = OrderedDict()  # file: connection, statements
_lock = threading.Lock()


def attach_served_lake(connection: Any) -> list[str]:
    """Attach the lake a serving catalog's views read; nothing for another DuckDB database.
    Returns the statements run."""
    statements = attachment_statements(connection)
    for statement in statements:
        connection.execute(statement)
    return statements


def attachment_statements(connection: Any) -> list[str]:
    """The statements a serving catalog keeps to attach its lake (none for another DuckDB
    database), checked to be DuckLake attachments."""
    found = connection.execute(
        "select count(*) from duckdb_tables() where schema_name = '_serving' "
        "and table_name = 'lake_attachment' and database_name = current_database()"
    ).fetchone()[0]
    if not found:
        return []
    rows = connection.execute(f"select statement from {ATTACHMENT}").fetchall()
    statements = [statement for (statement,) in rows]
    for statement in statements:
        if not statement.lower().startswith("attach if not exists 'ducklake:"):
            raise RuntimeError(f"{ATTACHMENT} holds an unexpected statement: {statement[:60]}")
    return statements


def _catalog_file(cparams: dict[str, Any]) -> str | None:
    database = cparams.get("database") or ""
    if not database or database == ":memory:" or database.startswith(("md:", "motherduck:")):
        return None
    return os.path.realpath(database)


def install() -> None:
    """Register the hook on duckdb-engine's dialect class (SQLAlchemy 1.4 runs dialect
    events registered there; a do_connect listener on Engine would never run)."""
    from duckdb_engine import Dialect
    from sqlalchemy import event

    event.listen(Dialect, "do_connect", connect_to_catalog)


def connect_to_catalog(dialect: Any, conn_rec: Any, cargs: list, cparams: dict) -> Any:
    """Open a duckdb-engine connection whose serving views can be queried."""
    path = _catalog_file(cparams)
    if path is None:
        return _attached(_connect(dialect, cargs, cparams), None)
    # open the file the served link names now, not the link: a publish may move the link
    # before the connect, and the statements kept for `path` attach that file's own lake
    # copy (another catalog's views, pinned to a newer snapshot, cannot read it)
    cparams = {**cparams, "database": path}
    with _lock:
        if path in _kept:
            _kept.move_to_end(path)
        else:
            kept = _connect(dialect, cargs, cparams)
            try:
                _kept[path] = (kept, attach_served_lake(kept))
            except Exception:
                kept.close()
                raise
            while len(_kept) > KEEP:
                _, (stale, _statements) = _kept.popitem(last=False)
                stale.close()
        statements = _kept[path][1]
    return _attached(_connect(dialect, cargs, cparams), statements)


def _connect(dialect: Any, cargs: list, cparams: dict) -> Any:
    # duckdb-engine pops some of its arguments: the engine's own stay for its next connect
    return dialect.connect(*cargs, **copy.deepcopy(cparams))


def _attached(connection: Any, statements: list[str] | None) -> Any:
    """The connection with its lake attached: by `statements` when known, else looked up."""
    try:
        if statements is None:
            attach_served_lake(connection)
        else:
            for statement in statements:
                connection.execute(statement)
    except Exception:
        connection.close()
        raise
    return connection
