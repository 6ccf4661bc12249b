"""Dagster's SQLite event log with connections kept open, for the embedded instance.

Dagster's own SQLite event log opens a new engine and connection for every transaction and
closes it after: with SQLite's write-ahead log, closing the last connection checkpoints the
log into the database file, and every commit waits for the disk (two to three fsyncs per
event). A dbt build of the demo writes about 4,500 such transactions (a planned and a result
event for each of ~500 dbt tests, mirrored into the index), which cost more than the dbt
build itself on a busy disk. This storage is the same schema and the same files
(`history/runs/<run_id>.db` and `index.db`): it only keeps a connection per database open
between transactions, with `synchronous=NORMAL` (commits are safe against a crash of the
process; a power cut may lose the last events, never the database).

The UI follows a running run by watching its database file for changes, which the
checkpoint on close used to make; a transaction that wrote to a run's file touches it
instead. Configured by the dagster.yaml that orchestration/instance.py writes; server mode
keeps its PostgreSQL storage.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

INDEX_SHARD = "index"
OPEN_RUN_SHARDS = 8  # run databases kept open per process (the UI reads many runs)


def _on_connect(dbapi_connection, _record) -> None:
    # in WAL mode NORMAL syncs at checkpoints only, not on every commit
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class LakehouseSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage whose run_connection and index_connection reuse open connections."""

    def __init__(self, base_dir: str, inst_data=None):
        # before Dagster's __init__, which already writes to a new index database
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        # one transaction at a time per process, as in Dagster's storage: a read-then-write
        # transaction (a concurrency slot claim) must not interleave with another thread's
        self._transaction_lock = threading.Lock()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> LakehouseSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def run_connection(self, run_id: str | None = None):
        return self._kept_open(run_id or "", touch=True)

    def index_connection(self):
        return self._kept_open(INDEX_SHARD, touch=False)

    def _engine(self, shard: str) -> Engine | None:
        """The open engine of a shard, None the first time (Dagster's own connection then
        creates the database and its tables)."""
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = create_engine(
                self.conn_string_for_shard(shard),
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            event.listen(engine, "connect", _on_connect)
            self._engines[shard] = engine
            run_shards = [s for s in self._engines if s != INDEX_SHARD]
            for old in run_shards[:-OPEN_RUN_SHARDS]:
                self._engines.pop(old).dispose()
            return None

    @contextmanager
    def _kept_open(self, shard: str, touch: bool) -> Iterator[Connection]:
        engine = self._engine(shard)
        if engine is None:
            with super().run_connection(shard) as conn:
                yield conn
            return
        with self._transaction_lock, engine.connect() as conn:
            changes = conn.connection.dbapi_connection.total_changes
            with conn.begin():
                yield conn
            wrote = conn.connection.dbapi_connection.total_changes != changes
        if touch and wrote:  # wakes whoever watches this run (the UI's live event log)
            os.utime(self.path_for_shard(shard))

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # the run databases are deleted: no connection may keep one
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()
