"""Commit data and state together: the connection's state file is the commit point.

A commit (1) writes the state file atomically with the new per-stream state and the
list of pending file operations (staged files to move into bronze, older files to
delete), then (2) carries the operations out, then (3) rewrites the state file without
them. A crash before (1) leaves the old state and only staged files, which nothing reads
and the next sync deletes; a crash after (1) is rolled forward by the next sync
(`recover`), since every operation is idempotent. So committed data is never corrupted,
state never runs ahead of the data, and a rerun resumes from the last commit.
"""

from __future__ import annotations

import base64
import logging
import os
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from ingestion.bronze import STAGING
from lake import Lake

log = logging.getLogger(__name__)

# Crash tests set it to `<point>[:<n>]` to SIGKILL the sync at the n-th time (default the
# first) it reaches a point of a commit: staged (files staged, the commit not begun),
# committed (the state file with its pending operations is written), moved-one (one file
# moved), moved-all (before the state is rewritten without them). A kill is what the test
# needs: no handler or finally runs.
KILL_AT_VARIABLE = "LAKEHOUSE_TEST_KILL_AT"
_reached: dict[str, int] = {}


def _kill_point(point: str) -> None:
    wanted = os.environ.get(KILL_AT_VARIABLE)
    if not wanted:
        return
    name, _, nth = wanted.partition(":")
    if name != point:
        return
    _reached[point] = _reached.get(point, 0) + 1
    if _reached[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def encode_schema(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def decode_schema(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


@dataclass
class StreamState:
    """What the engine keeps per stream: the source's own state and the bronze schema."""

    state: dict[str, Any] = field(default_factory=dict)
    schema: pa.Schema | None = None

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"state": self.state}
        if self.schema is not None:
            document["schema"] = encode_schema(self.schema)
            document["columns"] = {f.name: str(f.type) for f in self.schema}
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> StreamState:
        schema = document.get("schema")
        return cls(
            state=document.get("state") or {}, schema=decode_schema(schema) if schema else None
        )


class CommitLog:
    """The state file of one connection: `_ops/state/<connection>.json`."""

    def __init__(self, lake: Lake, connection: str):
        self.lake, self.connection = lake, connection
        self.path = lake.path("_ops", "state", f"{connection}.json")
        self.streams: dict[str, StreamState] = {}
        self.last_sync_id: str | None = None

    def load(self) -> CommitLog:
        """Read the committed state, finishing an interrupted commit first."""
        if not self.lake.exists(self.path):
            return self
        document = self.lake.read_json(self.path)
        self.streams = {
            name: StreamState.from_document(s) for name, s in document.get("streams", {}).items()
        }
        self.last_sync_id = document.get("last_sync_id")
        pending = document.get("pending")
        if pending:
            log.warning("%s: finishing the commit of sync %s", self.connection, self.last_sync_id)
            self._apply(pending)
            self._write(None)
        return self

    def discard_uncommitted(self, after_failure: bool = False) -> None:
        """Delete staged files of syncs that never committed (a crash before the commit, or
        `after_failure`: the sync that just failed, whose error is reported already)."""
        staging = self.lake.path("bronze", STAGING, self.connection)
        leftovers = self.lake.list_files(staging)
        if leftovers:
            level = logging.INFO if after_failure else logging.WARNING
            log.log(
                level, "%s: removing %d uncommitted staged files", self.connection, len(leftovers)
            )
        self.lake.delete_files(i.path for i in leftovers)
        # temporaries of interrupted atomic writes are invisible to list_files; drop them
        # too, with the folder itself
        if self.lake.exists(staging):
            self.lake.fs.delete_dir(staging)

    def commit(
        self,
        sync_id: str,
        streams: dict[str, StreamState],
        moves: list[tuple[str, str]],
        deletes: list[str],
    ) -> None:
        """Commit new state for the given streams together with their files."""
        _kill_point("staged")
        self.streams.update(streams)
        self.last_sync_id = sync_id
        pending = {"moves": [list(m) for m in moves], "deletes": deletes}
        self._write(pending if (moves or deletes) else None)
        if moves or deletes:
            _kill_point("committed")
            self._apply(pending)
            _kill_point("moved-all")
            self._write(None)

    def _write(self, pending: dict[str, Any] | None) -> None:
        document = {
            "connection": self.connection,
            "last_sync_id": self.last_sync_id,
            "committed_at": datetime.now(UTC).isoformat(),
            "streams": {name: s.to_document() for name, s in self.streams.items()},
            "pending": pending,
        }
        self.lake.write_json(self.path, document)

    def _apply(self, pending: dict[str, Any]) -> None:
        for staged, final in pending.get("moves", []):
            source, target = self.lake.path(staged), self.lake.path(final)
            if self.lake.exists(source):
                self.lake.move(source, target)
                _kill_point("moved-one")
            elif not self.lake.exists(target):
                raise RuntimeError(
                    f"{self.connection}: commit of sync {self.last_sync_id} is broken: "
                    f"{staged} is missing and {final} was never written"
                )
        for key in pending.get("deletes", []):
            path = self.lake.path(key)
            if self.lake.exists(path):
                self.lake.fs.delete_file(path)


__all__ = ["CommitLog", "StreamState", "decode_schema", "encode_schema"]
