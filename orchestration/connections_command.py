"""`lakehouse connections list | check | discover`: what the connections file declares,
whether each source answers, and what streams a source offers (as a starter file)."""

from __future__ import annotations

from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from ingestion.connections import ConnectionsFile
from ingestion.protocol import SourceError
from ingestion.sources import get_source
from orchestration.crm_service import START_DEMO_CRM, demo_crm_not_running


def list_connections(connections: ConnectionsFile) -> Table:
    table = Table(title="connections")
    for column in ("connection", "source", "stream", "mode", "cursor", "primary key", "schedule"):
        table.add_column(column)
    for name, connection in connections.connections.items():
        for stream in connection.streams:
            table.add_row(
                name,
                connection.source,
                stream.name,
                f"{stream.sync_mode}/{stream.destination_sync_mode}",
                stream.cursor_field or "-",
                ", ".join(stream.primary_key) or "-",
                stream.schedule or connection.schedule or "-",
            )
    return table


def check_connections(connections: ConnectionsFile, names: list[str]) -> tuple[Table, bool]:
    """Ask each source whether it can be read; returns the table and whether none failed.

    The demo's CRM, when nothing serves it, is reported as not running (with how to start
    it) and fails nothing: it is not reached, so it is neither a success nor a broken source.
    """
    table = Table(title="connection check")
    table.add_column("connection")
    table.add_column("status")
    table.add_column("message")
    ok = True
    for name in names or list(connections.connections):
        connection = connections.connections[name]
        source = get_source(connection.source)
        config = connection.source_config()
        if demo_crm_not_running(config.get("base_url")):
            table.add_row(
                name, "[yellow]not running[/]", f"demo service, not running: {START_DEMO_CRM}"
            )
            continue
        try:
            source.check(source.parse_config(config))
            table.add_row(name, "[green]succeeded[/]", "")
        except SourceError as exc:
            ok = False
            table.add_row(name, "[red]failed[/]", str(exc))
    return table, ok


def starter_file(name: str, source_type: str, config: dict[str, Any]) -> dict[str, Any]:
    """A connections-file entry for every stream the source offers, with the modes its
    catalog suggests: incremental where there is a cursor, dedup on the primary key."""
    source = get_source(source_type)
    catalog = source.discover(source.parse_config(config))
    streams = []
    for stream in catalog.streams:
        entry: dict[str, Any] = {"name": stream.name}
        key = [k[0] for k in stream.source_defined_primary_key or []]
        cursor = (stream.default_cursor_field or [None])[0]
        if cursor or stream.source_defined_cursor:
            entry["sync_mode"] = "incremental"
            entry["destination_sync_mode"] = "append_dedup" if key else "append"
            if cursor:
                entry["cursor_field"] = cursor
        if key:
            entry["primary_key"] = key
        streams.append(entry)
    config = _placeholders(name, {k: v for k, v in config.items() if k != "streams"})
    return {"connections": {name: {"source": source_type, "config": config, "streams": streams}}}


SECRET_HINTS = ("dsn", "password", "token", "secret", "key")


def _placeholders(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Secrets never go into the file: they become ${VAR} placeholders."""
    return {
        k: f"${{{name.upper()}_{k.upper()}}}"
        if isinstance(v, str) and any(h in k.lower() for h in SECRET_HINTS)
        else v
        for k, v in config.items()
    }


def print_starter(document: dict[str, Any], path: str | None) -> None:
    text = yaml.safe_dump(document, sort_keys=False)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        Console(stderr=True).print(f"wrote {path}")
    else:
        print(text, end="")
