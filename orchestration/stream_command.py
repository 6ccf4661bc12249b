"""`lakehouse stream CONNECTION`: a kafka connection into bronze, window after window,
until SIGTERM (or Ctrl-C), which closes the open window, commits it and exits 0. One
line per window: records, records/s, lag, latency."""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path

from ingestion.connections import Connection
from ingestion.streaming.control import STOP
from ingestion.streaming.loop import StreamSettings, Window, run_stream
from lake import Lake


def heartbeat_file(name: str) -> Path:
    """Touched after every window: the compose healthcheck reads its age."""
    return Path(tempfile.gettempdir()) / f"lakehouse-stream-{name}.heartbeat"


def _print_window(window: Window) -> None:
    latency = window.latency_p95_ms
    print(
        f"{window.finished_at:%H:%M:%S} {window.result.sync_id}: {window.records:,} records, "
        f"{window.records_per_s:,.0f}/s, lag {window.lag:,}, event->bronze p95 "
        + ("-" if latency is None else f"{latency / 1000:.2f} s"),
        flush=True,
    )


def stream(lake: Lake, name: str, connection: Connection, settings: StreamSettings) -> int:
    def stop(signum, frame) -> None:
        print(f"stream {name}: {signal.Signals(signum).name}: closing the window", file=sys.stderr)
        STOP.set()

    STOP.clear()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:

        def on_window(window: Window) -> None:
            heartbeat_file(name).touch()
            _print_window(window)

        run_stream(lake, name, connection, settings, on_window)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
