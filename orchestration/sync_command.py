"""`lakehouse sync`: one connection into bronze, with a live progress display and a
final table of what was read, written, dead-lettered and reconciled."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingestion.records import SyncResult
from ingestion.sync import sync_connection
from lake import Lake


class _RateTracker:
    """Feeds rich's progress bar from the engine's per-batch callback."""

    def __init__(self, progress: Progress, connection: str):
        self.progress, self.connection = progress, connection
        self.tasks: dict[str, int] = {}
        self.started: dict[str, float] = {}

    def __call__(self, stream: str, rows_read: int, rows_written: int) -> None:
        if stream not in self.tasks:
            self.started[stream] = time.perf_counter()
            self.tasks[stream] = self.progress.add_task(
                f"{self.connection}.{stream}", total=None, rows="", rate=""
            )
        seconds = max(time.perf_counter() - self.started[stream], 1e-6)
        self.progress.update(
            self.tasks[stream],
            completed=rows_read,
            rows=f"{rows_read:,} rows",
            rate=f"{rows_read / seconds:,.0f} rows/s",
        )


def result_table(result: SyncResult) -> Table:
    table = Table(title=f"sync {result.connection} {result.sync_id}: {result.status}")
    columns = ("stream", "mode", "read", "re-read", "bronze", "dlq", "deleted", "source count")
    for column in (*columns, "MB", "s", "rows/s"):
        table.add_column(column, justify="left" if column in ("stream", "mode") else "right")
    for s in result.streams:
        mode = f"{s.sync_mode}/{s.destination_sync_mode}"
        source_count = "-" if s.source_rows is None else f"{s.source_rows:,}"
        rate = s.rows_read / s.seconds if s.seconds else 0
        table.add_row(
            s.stream,
            mode,
            f"{s.rows_read:,}",
            "-" if s.rows_reread is None else f"{s.rows_reread:,}",
            f"{s.rows_written:,}",
            f"{s.rows_dlq:,}",
            f"{s.rows_deleted:,}",
            source_count,
            f"{s.bytes_written / 1e6:.1f}",
            f"{s.seconds:.1f}",
            f"{rate:,.0f}",
        )
    return table


def run_sync(
    lake: Lake,
    name: str,
    connection,
    streams: list[str] | None,
    full_refresh: bool,
    console: Console | None = None,
) -> SyncResult:
    console = console or Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[rows]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        result = sync_connection(
            lake,
            name,
            connection,
            streams=streams,
            full_refresh=full_refresh,
            progress=_RateTracker(progress, name),
        )
    stdout_console().print(result_table(result))
    for stream in result.streams:
        if stream.empty_refresh:
            console.print(
                f"[yellow]warning[/]: {name}.{stream.stream}: the full refresh read no record "
                f"where bronze had {stream.empty_refresh['previous_rows']:,}; bronze "
                f"{stream.empty_refresh['bronze']} (alert under _ops/alerts)"
            )
    return result


def stdout_console() -> Console:
    """Tables on stdout; when piped, wide enough that no column is cut."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    return console
