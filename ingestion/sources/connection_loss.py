"""A PostgreSQL server that goes away in the middle of a read: one clear error, not a
driver traceback.

The drivers (ADBC's libpq, psycopg) report a lost connection as an OSError or an
OperationalError whose text is libpq's. `guard_reads` watches a source's events and turns
such an error, however the source wrapped it, into a `SourceUnavailableError` that names
the server and the stream being read. The engine adds what was committed and how to rerun.
Errors of other kinds (a missing table, a refused login at the start) pass unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

from ingestion.protocol import Checkpoint, ReadEvent, Records, SourceUnavailableError

# libpq's words for a connection that was open and is gone (not for one never opened)
_LOST = re.compile(
    r"server closed the connection unexpectedly|terminating connection due to "
    r"administrator command|PQgetCopyData\(\) failed|consuming input failed|could not "
    r"receive data from server|the connection is (lost|closed)|SSL SYSCALL error|"
    r"no connection to the server",
    re.IGNORECASE,
)


def connection_lost(exc: BaseException) -> bool:
    """Whether the error, or one it was raised from, is a dropped server connection."""
    seen: BaseException | None = exc
    while seen is not None:
        if _LOST.search(str(seen)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def server_address(dsn: str) -> str:
    """host:port of a postgresql:// DSN, without credentials."""
    parts = urlsplit(dsn)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def _driver_words(exc: BaseException) -> str:
    """The innermost driver message's first line (libpq's never holds the password)."""
    inner = exc
    while inner.__cause__ is not None:
        inner = inner.__cause__
    lines = str(inner).strip().splitlines() or [type(inner).__name__]
    return lines[0].strip()[:200]


def guard_reads(
    events: Iterator[ReadEvent], dsn: str, streams: Sequence[str]
) -> Iterator[ReadEvent]:
    """`events`, with a lost connection raised as SourceUnavailableError naming the stream
    whose records were being read (or all of `streams` between two streams)."""
    current: str | None = streams[0] if len(streams) == 1 else None
    try:
        for event in events:
            if isinstance(event, Records):
                current = event.stream
            elif isinstance(event, Checkpoint) and len(streams) > 1:
                current = None
            yield event
    except Exception as exc:
        if not connection_lost(exc):
            raise
        what = f"stream {current}" if current else f"streams {', '.join(streams)}"
        raise SourceUnavailableError(
            f"PostgreSQL at {server_address(dsn)} closed the connection during the read of "
            f"{what} ({_driver_words(exc)})",
            stream=current,
        ) from exc


__all__ = ["connection_lost", "guard_reads", "server_address"]
