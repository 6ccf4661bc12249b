"""`lakehouse dlq list|show|replay CONNECTION [--stream S]`: the dead-letter queue for an
operator. list: dead letters per stream, by reason; show: the records, with reason, place
in the source and when; replay: land what passes now (ingestion.dlq_replay)."""

from __future__ import annotations

from rich.table import Table

from ingestion.connections import Connection
from ingestion.dlq import FILE_COLUMN, dlq_files, read_dead_letters, summarize
from ingestion.dlq_replay import replay_dead_letters
from ingestion.sync import select_streams
from lake import Lake
from orchestration.sync_command import stdout_console

RAW_CHARS = 120  # of a record's raw text in `show`


def selected_streams(name: str, connection: Connection, streams: list[str] | None) -> list[str]:
    return [s.name for s in select_streams(name, connection, streams or None)]


def list_table(lake: Lake, name: str, streams: list[str]) -> Table:
    table = Table(title=f"dead letters of {name}")
    for column in ("stream", "records", "files", "oldest", "newest", "reasons", "replayed files"):
        table.add_column(column, justify="right" if column in ("records", "files") else "left")
    for s in summarize(lake, name, streams):
        reasons = "\n".join(f"{count:,} {kind}" for kind, count in s.reasons.items()) or "-"
        table.add_row(
            s.stream,
            f"{s.records:,}",
            f"{s.files:,}",
            f"{s.oldest:%Y-%m-%d %H:%M}" if s.oldest else "-",
            f"{s.newest:%Y-%m-%d %H:%M}" if s.newest else "-",
            reasons,
            f"{s.replayed_files:,}",
        )
    return table


def show_table(lake: Lake, name: str, stream: str, limit: int) -> Table:
    letters = read_dead_letters(lake, dlq_files(lake, name, stream))
    table = Table(title=f"{name}.{stream}: {letters.num_rows:,} dead letters")
    for column in ("when (UTC)", "sync", "source position", "reason", "raw"):
        table.add_column(column, overflow="fold")
    for row in letters.slice(0, limit).to_pylist():
        where = row["location"] or ""
        if row["line_number"]:
            where += f" line {row['line_number']}"
        raw = row["raw"] or ""
        table.add_row(
            f"{row['_extracted_at']:%Y-%m-%d %H:%M:%S}",
            row["_sync_id"],
            where,
            row["reason"],
            raw if len(raw) <= RAW_CHARS else raw[:RAW_CHARS] + "…",
        )
    if letters.num_rows > limit:
        table.caption = f"the first {limit} of {letters.num_rows:,} (--limit N for more)"
    elif letters.num_rows:
        table.caption = f"files: {', '.join(sorted(set(letters[FILE_COLUMN].to_pylist())))}"
    return table


def replay(lake: Lake, name: str, connection: Connection, streams: list[str] | None) -> int:
    result = replay_dead_letters(lake, name, connection, streams)
    table = Table(title=f"replay {name} {result.sync_id}: {result.status}")
    for column in ("stream", "dead letters", "landed in bronze", "still in the DLQ"):
        table.add_column(column, justify="left" if column == "stream" else "right")
    for s in result.streams:
        table.add_row(s.stream, f"{s.rows_read:,}", f"{s.rows_written:,}", f"{s.rows_dlq:,}")
    if not result.streams:
        table.caption = "the DLQ holds nothing for these streams"
    elif any(s.rows_written for s in result.streams):
        # not recorded as a Dagster materialization: a replay's small counts would skew the
        # volume history of the bronze assets
        table.caption = "silver and gold get the landed records at the next dbt build"
    stdout_console().print(table)
    return 0


def dlq(action: str, lake: Lake, name: str, connection: Connection, args) -> int:
    streams = selected_streams(name, connection, args.stream)
    if action == "list":
        stdout_console().print(list_table(lake, name, streams))
    elif action == "show":
        for stream in streams:
            stdout_console().print(show_table(lake, name, stream, args.limit))
    else:
        return replay(lake, name, connection, args.stream or None)
    return 0


__all__ = ["dlq", "list_table", "replay", "show_table"]
