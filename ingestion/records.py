"""What a sync reports: per-stream counts, bytes and timings, kept under `_ops`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class StreamResult:
    stream: str
    rows_read: int = 0
    rows_written: int = 0
    rows_dlq: int = 0
    bytes_written: int = 0
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def check_reconciles(self, connection: str) -> None:
        """Nothing lost: every record read is in bronze or in the DLQ."""
        if self.rows_read != self.rows_written + self.rows_dlq:
            raise RuntimeError(
                f"{connection}.{self.stream}: read {self.rows_read} records but wrote "
                f"{self.rows_written} to bronze and {self.rows_dlq} to the DLQ"
            )


@dataclass
class SyncResult:
    connection: str
    source: str
    sync_id: str
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"
    error: str | None = None
    streams: list[StreamResult] = field(default_factory=list)

    def to_document(self) -> dict[str, Any]:
        document = asdict(self)
        document["started_at"] = self.started_at.isoformat()
        document["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return document
