"""What a running stream shares with the source that reads for it, in one process: the
request to stop (SIGTERM) and the figures of the window just read."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

# set by the stream's SIGTERM handler: the source ends its window early, the engine
# commits it, and the stream exits
STOP = threading.Event()


@dataclass
class WindowFigures:
    """What a source measured over one window, per stream."""

    stream: str
    records: int = 0
    seconds: float = 0.0
    lag: int | None = None  # messages behind the partitions' ends when the window closed
    latency_p50_ms: float | None = None  # message timestamp -> committed in bronze
    latency_p95_ms: float | None = None
    latency_max_ms: float | None = None
    resets: list[dict[str, Any]] = field(default_factory=list)

    def to_document(self) -> dict[str, Any]:
        return asdict(self)


_latest: dict[str, WindowFigures] = {}
_lock = threading.Lock()


def report(figures: WindowFigures) -> None:
    with _lock:
        _latest[figures.stream] = figures


def take_reports() -> list[WindowFigures]:
    """The figures reported since the last call."""
    with _lock:
        reports = list(_latest.values())
        _latest.clear()
    return reports


__all__ = ["STOP", "WindowFigures", "report", "take_reports"]
