"""Our sources as Airbyte connectors: `python -m ingestion.sources.sql spec|check|discover|read`
in a subprocess, every stdout line validated against the protocol's AirbyteMessage; and
the round trip, the sql connector run through the external source."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from airbyte_protocol.models import (
    AirbyteMessage,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    DestinationSyncMode,
    Status,
    SyncMode,
    TraceType,
    Type,
)

from ingestion.protocol import Checkpoint, Records, SourceTotals
from ingestion.sources.external import ExternalSource
from ingestion.sources.sql import SqlSource

REPO_ROOT = Path(__file__).resolve().parent.parent

CUSTOMERS = [
    (i, f"customer {i}" if i != 4 else None, round(i * 10.25, 2), f"2024-01-{i:02d}T08:30:00")
    for i in range(1, 11)
]
CUSTOMERS.append((11, "Zoë «ünïcode»", -3.5, "2024-01-10T08:30:00"))  # same cursor as id 10
ORDERS = [(i, (i % 3) + 1, i * 1.5, f"2024-02-{i:02d}T12:00:00") for i in range(1, 8)]


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, balance REAL, "
            "updated_at TEXT)"
        )
        conn.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, amount REAL, "
            "updated_at TEXT)"
        )
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", CUSTOMERS)
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", ORDERS)
    conn.close()
    return path


def write_json(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def connector(*args: str, expect_code: int = 0) -> list[AirbyteMessage]:
    """Run the sql source as a connector; every stdout line must be a valid message."""
    result = subprocess.run(
        [sys.executable, "-m", "ingestion.sources.sql", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == expect_code, result.stderr.decode()[-2000:]
    lines = result.stdout.splitlines()
    assert lines, "no output"
    return [AirbyteMessage.model_validate_json(line) for line in lines]


def of_type(messages: list[AirbyteMessage], kind: Type) -> list[AirbyteMessage]:
    return [m for m in messages if m.type == kind]


def catalog_for(
    names: list[str], mode: SyncMode = SyncMode.full_refresh, cursor: str | None = None
) -> dict[str, Any]:
    """A configured catalog as Airbyte writes it (JSON)."""
    streams = []
    for name in names:
        stream: dict[str, Any] = {
            "stream": {
                "name": name,
                "json_schema": {},
                "supported_sync_modes": ["full_refresh", "incremental"],
            },
            "sync_mode": mode.value,
            "destination_sync_mode": "append" if mode == SyncMode.incremental else "overwrite",
        }
        if cursor:
            stream["cursor_field"] = [cursor]
        streams.append(stream)
    return {"streams": streams}


def as_dicts(rows: list[tuple]) -> list[dict[str, Any]]:
    return [dict(zip(["id", "name", "balance", "updated_at"], row, strict=True)) for row in rows]


def test_spec(tmp_path: Path):
    (spec,) = of_type(connector("spec"), Type.SPEC)
    properties = spec.spec.connectionSpecification["properties"]
    assert {"dsn", "batch_rows", "streams"} <= set(properties)
    assert spec.spec.supportsIncremental is True


def test_check_good_and_bad_config(database: Path, tmp_path: Path):
    good = write_json(tmp_path / "good.json", {"dsn": f"sqlite:///{database}"})
    (status,) = of_type(connector("check", "--config", good), Type.CONNECTION_STATUS)
    assert status.connectionStatus.status == Status.SUCCEEDED

    missing = write_json(tmp_path / "missing.json", {"dsn": f"sqlite:///{tmp_path}/nope.db"})
    (status,) = of_type(connector("check", "--config", missing), Type.CONNECTION_STATUS)
    assert status.connectionStatus.status == Status.FAILED
    assert "nope.db does not exist" in status.connectionStatus.message

    no_table = write_json(
        tmp_path / "no_table.json",
        {"dsn": f"sqlite:///{database}", "streams": [{"name": "ghosts"}]},
    )
    (status,) = of_type(connector("check", "--config", no_table), Type.CONNECTION_STATUS)
    assert status.connectionStatus.status == Status.FAILED
    assert "ghosts" in status.connectionStatus.message

    invalid = write_json(tmp_path / "invalid.json", {"dsn": "sqlite:///x.db", "colour": "red"})
    (status,) = of_type(connector("check", "--config", invalid), Type.CONNECTION_STATUS)
    assert status.connectionStatus.status == Status.FAILED
    assert "colour" in status.connectionStatus.message

    # a config that cannot be parsed at all, for discover: a TRACE error and exit code 1
    messages = connector("discover", "--config", invalid, expect_code=1)
    (trace,) = of_type(messages, Type.TRACE)
    assert trace.trace.type == TraceType.ERROR and "colour" in trace.trace.error.message


def test_discover(database: Path, tmp_path: Path):
    config = write_json(tmp_path / "config.json", {"dsn": f"sqlite:///{database}"})
    (catalog,) = of_type(connector("discover", "--config", config), Type.CATALOG)
    streams = {s.name: s for s in catalog.catalog.streams}
    assert list(streams) == ["customers", "orders"]
    customers = streams["customers"]
    assert customers.json_schema["properties"] == {
        "id": {"type": ["null", "integer"]},
        "name": {"type": ["null", "string"]},
        "balance": {"type": ["null", "number"]},
        "updated_at": {"type": ["null", "string"]},
    }
    assert customers.source_defined_primary_key == [["id"]]
    assert customers.default_cursor_field == ["updated_at"]
    assert set(customers.supported_sync_modes) == {SyncMode.full_refresh, SyncMode.incremental}
    assert list(streams["orders"].json_schema["properties"]) == [
        "id",
        "customer_id",
        "amount",
        "updated_at",
    ]


def test_full_refresh_read(database: Path, tmp_path: Path):
    config = write_json(tmp_path / "config.json", {"dsn": f"sqlite:///{database}"})
    catalog = write_json(tmp_path / "catalog.json", catalog_for(["customers", "orders"]))
    messages = connector("read", "--config", config, "--catalog", catalog)
    records = of_type(messages, Type.RECORD)
    by_stream: dict[str, list[dict]] = {}
    for message in records:
        by_stream.setdefault(message.record.stream, []).append(message.record.data)
    assert by_stream["customers"] == as_dicts(CUSTOMERS)
    assert by_stream["orders"] == [
        dict(zip(["id", "customer_id", "amount", "updated_at"], row, strict=True)) for row in ORDERS
    ]
    assert all(m.record.emitted_at > 0 for m in records)
    states = of_type(messages, Type.STATE)
    assert [s.state.stream.stream_descriptor.name for s in states] == ["customers", "orders"]
    # each stream's state comes after its records
    last_customer = max(
        i for i, m in enumerate(messages) if m.record and m.record.stream == "customers"
    )
    first_state = messages.index(states[0])
    assert first_state > last_customer
    totals = [m.log.message for m in of_type(messages, Type.LOG)]
    assert "customers: the source counts 11 rows over the range read" in totals


def test_incremental_read_with_state(database: Path, tmp_path: Path):
    config = write_json(tmp_path / "config.json", {"dsn": f"sqlite:///{database}"})
    catalog = write_json(
        tmp_path / "catalog.json",
        catalog_for(["customers"], SyncMode.incremental, cursor="updated_at"),
    )
    messages = connector("read", "--config", config, "--catalog", catalog)
    assert len(of_type(messages, Type.RECORD)) == len(CUSTOMERS)
    (state,) = of_type(messages, Type.STATE)
    blob = state.state.stream.stream_state.model_dump()
    # the position of the last row read: the cursor, then the key among rows sharing it
    assert blob == {
        "cursor_field": "updated_at",
        "cursor": "2024-01-10T08:30:00",
        "cursor_key": {"id": 11},
    }

    # the state as Airbyte passes it back (a list of the last STATE messages): nothing
    # after that position, so nothing is read again
    document = json.loads(state.state.model_dump_json(exclude_none=True, by_alias=True))
    state_file = write_json(tmp_path / "state.json", [document])
    messages = connector("read", "--config", config, "--catalog", catalog, "--state", state_file)
    assert of_type(messages, Type.RECORD) == []

    # a state from before the key was kept: the rows at the cursor once more (>=), then
    # the state carries the key
    del document["stream"]["stream_state"]["cursor_key"]
    state_file = write_json(tmp_path / "legacy.json", [document])
    messages = connector("read", "--config", config, "--catalog", catalog, "--state", state_file)
    assert [m.record.data["id"] for m in of_type(messages, Type.RECORD)] == [10, 11]
    (state,) = of_type(messages, Type.STATE)
    assert state.state.stream.stream_state.model_dump()["cursor_key"] == {"id": 11}

    # a cursor in the middle
    middle = [
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "customers"},
                "stream_state": {"cursor_field": "updated_at", "cursor": "2024-01-07T08:30:00"},
            },
        }
    ]
    state_file = write_json(tmp_path / "middle.json", middle)
    messages = connector("read", "--config", config, "--catalog", catalog, "--state", state_file)
    records = [m.record.data for m in of_type(messages, Type.RECORD)]
    assert records == [r for r in as_dicts(CUSTOMERS) if r["updated_at"] >= "2024-01-07T08:30:00"]
    assert [r["id"] for r in records] == [7, 8, 9, 10, 11]
    (state,) = of_type(messages, Type.STATE)
    assert state.state.stream.stream_state.model_dump()["cursor"] == "2024-01-10T08:30:00"


# -- the round trip: our sql connector through the external source ------------------------
def _configured(names: list[str], mode: SyncMode, cursor: str | None) -> ConfiguredAirbyteCatalog:
    return ConfiguredAirbyteCatalog(
        streams=[
            ConfiguredAirbyteStream(
                stream=AirbyteStream(name=n, json_schema={}, supported_sync_modes=[mode]),
                sync_mode=mode,
                destination_sync_mode=(
                    DestinationSyncMode.append
                    if mode == SyncMode.incremental
                    else DestinationSyncMode.overwrite
                ),
                cursor_field=[cursor] if cursor else None,
            )
            for n in names
        ]
    )


def _tables(events) -> tuple[dict[str, pa.Table], dict[str, dict], dict[str, int]]:
    batches: dict[str, list] = {}
    states: dict[str, dict] = {}
    totals: dict[str, int] = {}
    for event in events:
        if isinstance(event, Records):
            batches.setdefault(event.stream, []).append(event.data)
        elif isinstance(event, Checkpoint):
            states[event.stream] = event.state
        elif isinstance(event, SourceTotals):
            totals[event.stream] = event.rows
    tables = {name: pa.Table.from_batches(b).combine_chunks() for name, b in batches.items()}
    return tables, states, totals


@pytest.mark.parametrize("mode", [SyncMode.full_refresh, SyncMode.incremental])
def test_sql_through_external_equals_sql_in_process(database: Path, mode: SyncMode):
    sql_config = {"dsn": f"sqlite:///{database}", "streams": [{"name": "customers"}]}
    cursor = "updated_at" if mode == SyncMode.incremental else None
    catalog = _configured(["customers", "orders"], mode, cursor)

    sql = SqlSource()
    direct, direct_states, direct_totals = _tables(
        sql.read(sql.parse_config(sql_config), catalog, {})
    )
    external = ExternalSource()
    config = external.parse_config(
        {
            "command": [sys.executable, "-m", "ingestion.sources.sql"],
            "config": sql_config,
            "batch_records": 4,
            "streams": [{"name": "customers"}, {"name": "orders"}],
        }
    )
    through, states, totals = _tables(external.read(config, catalog, {}))
    assert set(through) == set(direct) == {"customers", "orders"}
    for name in direct:
        # typed as Airbyte's destinations type records: the key stays non-nullable and each
        # row says what typing changed in it (nothing, here); the rest is what sql read
        meta = through[name].column("_airbyte_meta").to_pylist()
        assert set(meta) == {'{"changes":[]}'}, name
        data = through[name].drop_columns(["_airbyte_meta"])
        assert [(f.name, f.type) for f in data.schema] == [
            (f.name, f.type) for f in direct[name].schema
        ], name
        assert data.to_pylist() == direct[name].to_pylist(), name
    assert states == direct_states
    assert totals == direct_totals == {"customers": len(CUSTOMERS), "orders": len(ORDERS)}

    if mode == SyncMode.incremental:
        # and the states it returns work for the next read, through the connector
        middle = {"customers": {"cursor_field": "updated_at", "cursor": "2024-01-09T08:30:00"}}
        through, _, _ = _tables(external.read(config, catalog, {**states, **middle}))
        assert through["customers"].column("id").to_pylist() == [9, 10, 11]
        assert "orders" not in through  # read past its last row: nothing again
