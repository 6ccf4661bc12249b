"""`lakehouse serving status|rollback|reattach`: which published DuckLake snapshot the
dashboards read.

status: the snapshot served now and the history of publishes and rollbacks
(`_ops/serving` in the lake); rollback: serve the publish before the one served now, record
it, and say which snapshot is served (serving.duckdb_catalog.rollback); reattach: after the data
folder moved, serve the same publication from the lake where it is now
(serving.duckdb_catalog.reattach). Only the embedded DuckDB catalog is pinned to a snapshot;
PostgreSQL's serving schema (server mode) holds copies that a rollback does not touch.
"""

from __future__ import annotations

from rich.table import Table

from lake import Lake
from lake.tables.catalog import TableCatalog
from lake.tables.publications import history, served
from orchestration.settings import Settings
from orchestration.sync_command import stdout_console
from serving.duckdb_catalog import reattach, rollback


def history_table(lake: Lake) -> Table:
    table = Table(title=f"publications of {lake.url} (newest last)")
    for column in ("publication", "action", "DuckLake snapshot", "marts", "rows"):
        table.add_column(column, justify="right" if column in ("marts", "rows") else "left")
    for event in history(lake):
        table.add_row(
            event.publication_id,
            event.action,
            str(event.lake_snapshot_id),
            str(len(event.models)),
            f"{sum(event.models.values()):,}",
        )
    return table


def serving(action: str, lake: Lake, tables: TableCatalog, settings: Settings) -> int:
    console = stdout_console()
    if action == "rollback":
        result = rollback(lake, settings.serving_dir, tables)
        console.print(
            f"rolled back: the dashboards read DuckLake snapshot {result.lake_snapshot} "
            f"({len(result.models)} marts, {sum(result.models.values()):,} rows; "
            f"publication {result.snapshot_id})"
        )
        return 0
    if action == "reattach":
        path = reattach(lake, settings.serving_dir, tables)
        console.print(f"{path} reads the lake at {lake.url} (the same publication)")
        return 0
    current = served(lake)
    if current is None:
        console.print(f"nothing published yet from {lake.url}: run the pipeline (`make demo`)")
        return 0
    console.print(
        f"served: DuckLake snapshot {current.lake_snapshot_id} "
        f"({current.action} {current.publication_id})"
    )
    console.print(history_table(lake))
    return 0
