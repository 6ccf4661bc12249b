"""A stream: one connection read window after window, each window a committed sync.

A window closes when `flush_size` messages are read or `rotate_seconds` have passed,
whichever comes first (Kafka Connect's flush.size and rotate.interval.ms), and is
committed like any sync: data, then the offsets, in the connection's state. So a stream
killed at any moment resumes from its last window, losing and repeating nothing. Each
window's figures (records, records/s, consumer lag, event -> bronze latency) are written
to `_ops/stream_windows/<connection>/`; an alert goes out when lag or latency passes its
threshold (once, until it is back under)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingestion.connections import Connection
from ingestion.records import SyncResult
from ingestion.streaming.control import STOP, WindowFigures, take_reports
from ingestion.sync import sync_connection
from lake import Lake
from lake.alerts import Alert, send_alert

log = logging.getLogger(__name__)


@dataclass
class StreamSettings:
    flush_size: int = 500_000
    rotate_seconds: float = 10.0
    max_lag: int | None = None  # messages behind: alert above
    max_latency_s: float | None = None  # event -> bronze p95: alert above
    until_caught_up: bool = False  # stop after the first window that ends with no lag


@dataclass
class Window:
    result: SyncResult
    figures: list[WindowFigures]
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def records(self) -> int:
        return sum(f.records for f in self.figures)

    @property
    def lag(self) -> int:
        return sum(f.lag or 0 for f in self.figures)

    @property
    def latency_p95_ms(self) -> float | None:
        values = [f.latency_p95_ms for f in self.figures if f.latency_p95_ms is not None]
        return max(values) if values else None

    @property
    def records_per_s(self) -> float:
        seconds = max((f.seconds for f in self.figures), default=0)
        return self.records / seconds if seconds else 0.0

    def to_document(self, connection: str) -> dict[str, Any]:
        return {
            "connection": connection,
            "sync_id": self.result.sync_id,
            "status": self.result.status,
            "finished_at": self.finished_at.isoformat(),
            "records": self.records,
            "records_per_s": round(self.records_per_s, 1),
            "lag": self.lag,
            "latency_p95_ms": self.latency_p95_ms,
            "streams": [f.to_document() for f in self.figures],
        }


def window_connection(connection: Connection, settings: StreamSettings) -> Connection:
    config = {
        **connection.config,
        "max_records": settings.flush_size,
        "max_seconds": settings.rotate_seconds,
        "until_end": False,
    }
    return connection.model_copy(update={"config": config})


class Thresholds:
    """Alert when lag or latency goes over its threshold; again only after it was under."""

    def __init__(self, lake: Lake, connection: str, settings: StreamSettings):
        self.lake, self.connection, self.settings = lake, connection, settings
        self.over: set[str] = set()

    def check(self, window: Window) -> list[str]:
        sent = []
        checks = [
            ("lag", window.lag, self.settings.max_lag, "messages behind"),
            (
                "latency",
                None if window.latency_p95_ms is None else window.latency_p95_ms / 1000,
                self.settings.max_latency_s,
                "s event -> bronze (p95)",
            ),
        ]
        for kind, value, limit, unit in checks:
            if limit is None or value is None:
                continue
            if value <= limit:
                self.over.discard(kind)
                continue
            if kind in self.over:
                continue
            self.over.add(kind)
            alert = Alert(
                kind=f"stream_{kind}",
                title=f"stream {self.connection}: {kind} {value:,.1f} {unit} > {limit:,}",
                lines=[f"window {window.result.sync_id}: {window.records:,} records"],
                details=window.to_document(self.connection),
            )
            sent.append(send_alert(self.lake, alert))
        return sent


def run_stream(
    lake: Lake,
    name: str,
    connection: Connection,
    settings: StreamSettings,
    on_window: Callable[[Window], None] | None = None,
) -> int:
    """Run windows until asked to stop (STOP, set on SIGTERM) or caught up; returns the
    number of windows."""
    if connection.source != "kafka":
        raise ValueError(
            f"{name}: lakehouse stream reads kafka connections, not {connection.source}"
        )
    windowed = window_connection(connection, settings)
    thresholds = Thresholds(lake, name, settings)
    windows = 0
    while True:
        take_reports()  # figures of a failed window must not count for the next one
        result = sync_connection(lake, name, windowed)
        window = Window(result, take_reports())
        lake.write_json(
            lake.path("_ops", "stream_windows", name, f"{result.sync_id}.json"),
            window.to_document(name),
        )
        thresholds.check(window)
        windows += 1
        if on_window is not None:
            on_window(window)
        if STOP.is_set() or (settings.until_caught_up and window.lag == 0):
            return windows


__all__ = ["StreamSettings", "Window", "run_stream", "window_connection"]
