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
    spec = source.spec().connectionSpecification
    if source_type == "external":  # the connector's own config, under `config`
        inner = source.spec(source.parse_config(config)).connectionSpecification
        spec = {**spec, "properties": {**spec.get("properties", {}), "config": inner}}
    config = {k: v for k, v in config.items() if k != "streams"}
    config = placeholders(config, spec, name.upper())
    return {"connections": {name: {"source": source_type, "config": config, "streams": streams}}}


SECRET_HINTS = ("dsn", "password", "token", "secret", "key")


def _property_schemas(schema: Any, key: str) -> list[dict[str, Any]]:
    """The schemas property `key` may have under `schema`, its oneOf/anyOf/allOf included."""
    if not isinstance(schema, dict):
        return []
    found = []
    prop = (schema.get("properties") or {}).get(key)
    if isinstance(prop, dict):
        found.append(prop)
    for combinator in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(combinator) or []:
            found += _property_schemas(branch, key)
    return found


def placeholders(value: Any, schema: Any, var: str) -> Any:
    """Secrets never go into the file: every value the spec marks `airbyte_secret`, at any
    depth (oneOf branches and arrays included), and every string under a key that names a
    secret, becomes a ${VAR} placeholder named after its path."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            schemas = _property_schemas(schema, key)
            name = f"{var}_{key.upper()}"
            secret = any(s.get("airbyte_secret") for s in schemas) or (
                isinstance(item, str) and any(h in key.lower() for h in SECRET_HINTS)
            )
            if secret and item is not None and not isinstance(item, dict | list):
                out[key] = f"${{{name}}}"
            else:
                out[key] = placeholders(
                    item, schemas[0] if len(schemas) == 1 else {"anyOf": schemas}, name
                )
        return out
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema, dict) else None
        return [placeholders(v, items, f"{var}_{i}") for i, v in enumerate(value)]
    return value


def print_starter(document: dict[str, Any], path: str | None) -> None:
    text = yaml.safe_dump(document, sort_keys=False)
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        Console(stderr=True).print(f"wrote {path}")
    else:
        print(text, end="")
