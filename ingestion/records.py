"""What a sync reports: per-stream counts, bytes, timings and reconciliation, kept under `_ops`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


class ReconciliationError(RuntimeError):
    """The counts of a stream do not add up: something would be lost."""


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6)
    return Decimal(str(a)) == Decimal(str(b))


def _number(value: Any) -> Any:
    """Drivers hand NUMERIC sums over as Decimal or as text (ADBC PostgreSQL)."""
    return Decimal(value) if isinstance(value, str) else value


@dataclass
class StreamResult:
    stream: str
    sync_mode: str = "full_refresh"
    destination_sync_mode: str = "overwrite"
    rows_read: int = 0
    rows_written: int = 0
    # rows at or before the position an earlier sync committed (cursor streams; else None)
    rows_reread: int | None = None
    rows_dlq: int = 0
    rows_deleted: int = 0  # tombstones landed for keys gone from the source (in rows_written)
    bytes_written: int = 0
    source_rows: int | None = None  # what the source counted over the ranges read
    checksums: dict[str, dict[str, Any]] = field(default_factory=dict)  # column: source/read
    files: list[str] = field(default_factory=list)
    files_replaced: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    schema_events: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    # a full refresh that read nothing where bronze had rows (ingestion.empty_refresh)
    empty_refresh: dict[str, Any] | None = None
    # the stream's cron schedule and its first tick after the sync started (freshness)
    schedule: str | None = None
    next_scheduled_at: str | None = None

    def check_reconciles(self, connection: str) -> None:
        """Nothing lost: every record read is in bronze or in the DLQ."""
        where = f"{connection}.{self.stream}"
        records_written = self.rows_written - self.rows_deleted
        if self.rows_read != records_written + self.rows_dlq:
            raise ReconciliationError(
                f"{where}: read {self.rows_read} records but wrote "
                f"{records_written} to bronze and {self.rows_dlq} to the DLQ"
            )

    def check_source_window(
        self, connection: str, source_rows: int, read: int, source_sums: dict, read_sums: dict
    ) -> None:
        """The source's own count (and sums) over a range equal what the sync read of it."""
        where = f"{connection}.{self.stream}"
        source_sums = {column: _number(value) for column, value in source_sums.items()}
        if source_rows != read:
            raise ReconciliationError(
                f"{where}: the source counted {source_rows} rows but the sync read {read}"
            )
        for column, expected in source_sums.items():
            got = read_sums.get(column)
            if not _same(expected, got):
                raise ReconciliationError(
                    f"{where}: the source sums {column} to {expected} "
                    f"but the rows read sum to {got}"
                )
        self.source_rows = (self.source_rows or 0) + source_rows
        for column, expected in source_sums.items():
            entry = self.checksums.setdefault(column, {"source": 0, "read": 0})
            # JSON keeps exact integers; a Decimal sum of whole numbers is stored as an int
            entry["source"] = _plain((entry["source"] or 0) + (expected or 0))
            entry["read"] = _plain((entry["read"] or 0) + (read_sums.get(column) or 0))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


@dataclass
class SyncResult:
    connection: str
    source: str
    sync_id: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"
    error: str | None = None
    full_refresh: bool = False
    streams: list[StreamResult] = field(default_factory=list)

    def to_document(self) -> dict[str, Any]:
        document = asdict(self)
        document["started_at"] = self.started_at.isoformat()
        document["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return document
