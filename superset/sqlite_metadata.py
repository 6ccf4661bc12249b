"""Superset's SQLite metadata database in WAL mode, synced at checkpoints, connections kept.

Superset writes a row per API call into its metadata database (the Action Log), 3 commits
per chart data request. In SQLite's default mode every commit waits for the file to reach
the disk (16 ms a commit here) and holds the whole file locked meanwhile, so gunicorn's
workers queued behind each other's logging. In WAL mode with `synchronous=NORMAL` a commit
is an append to the write-ahead log, readers do not block the writer, and the database
stays consistent after a crash (a power cut may lose the last commits: log rows).
The connections are pooled (SQLAlchemy opens and closes one per session on a SQLite file):
closing the last connection checkpoints and deletes the write-ahead log, which the next
commit creates again, a sync each time.

Only the metadata file is changed; any other SQLite connection in the process is left as is.
PostgreSQL metadata (server mode): nothing to do.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from typing import Any


def engine_options(metadata_uri: str) -> dict[str, Any]:
    """SQLALCHEMY_ENGINE_OPTIONS for the metadata database: a pool of kept connections on
    a SQLite file (each used by one thread at a time, hence `check_same_thread` off)."""
    if not _sqlite_file(metadata_uri):
        return {}
    from sqlalchemy.pool import QueuePool

    return {
        "poolclass": QueuePool,
        "pool_size": 4,  # gunicorn threads per worker are fewer
        "max_overflow": 8,
        "connect_args": {"check_same_thread": False},
    }


def _sqlite_file(metadata_uri: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(metadata_uri)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return ""
    return os.path.realpath(url.database)


def install(metadata_uri: str) -> None:
    """Switch the connections to the SQLite metadata file of `metadata_uri` to WAL mode."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    metadata_file = _sqlite_file(metadata_uri)
    if not metadata_file:
        return

    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        is_sqlite = isinstance(dbapi_connection, sqlite3.Connection)
        if is_sqlite and _main_file(dbapi_connection) == metadata_file:
            use_wal(dbapi_connection)

    event.listen(Pool, "connect", _on_connect)


def _main_file(connection: sqlite3.Connection) -> str:
    for _seq, name, file in connection.execute("pragma database_list"):
        if name == "main":
            return os.path.realpath(file) if file else ""
    return ""


def use_wal(connection: sqlite3.Connection) -> None:
    # persistent in the file; a busy database keeps its mode until a later connection
    with contextlib.suppress(sqlite3.OperationalError):
        connection.execute("pragma journal_mode=wal")
    connection.execute("pragma synchronous=normal")  # per connection
