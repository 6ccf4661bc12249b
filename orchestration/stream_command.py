"""`lakehouse stream CONNECTION`: a kafka connection into bronze, window after window,
until SIGTERM (or Ctrl-C), which closes the open window, commits it and exits 0. One
line per window: records, records/s, lag, latency.

Dagster watches rather than runs it (a run per window would add Dagster's start-up to
every window's latency): each window that brought records is reported on its bronze
assets as a materialization, like `lakehouse sync` does, with an observation of the
window's lag and latency, so the UI, freshness checks and automation downstream see the
stream as it goes."""

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


class DagsterReporter:
    """Reports windows to the Dagster instance (`instance`: None to skip)."""

    def __init__(self, instance) -> None:
        self.instance = instance

    def __call__(self, window: Window) -> None:
        if self.instance is None or not window.records:
            return
        from dagster import AssetObservation

        from orchestration.assets.ingestion import bronze_key, record_sync

        record_sync(self.instance, window.result)
        for figures in window.figures:
            self.instance.report_runless_asset_event(
                AssetObservation(
                    asset_key=bronze_key(window.result.connection, figures.stream),
                    description=f"lakehouse stream window {window.result.sync_id}",
                    metadata={
                        "records": figures.records,
                        "records_per_s": round(figures.records / figures.seconds, 1)
                        if figures.seconds
                        else 0.0,
                        "consumer_lag": figures.lag or 0,
                        "latency_p95_ms": figures.latency_p95_ms or 0.0,
                    },
                )
            )


def stream(
    lake: Lake,
    name: str,
    connection: Connection,
    settings: StreamSettings,
    report: DagsterReporter | None = None,
) -> int:
    def stop(signum, frame) -> None:
        print(f"stream {name}: {signal.Signals(signum).name}: closing the window", file=sys.stderr)
        STOP.set()

    STOP.clear()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:

        def on_window(window: Window) -> None:
            heartbeat_file(name).touch()
            _print_window(window)
            if report is not None:
                report(window)

        run_stream(lake, name, connection, settings, on_window)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
