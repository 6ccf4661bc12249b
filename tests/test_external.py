"""The external source: any Airbyte-protocol executable as a source.

Fake connectors (small scripts written here) cover the protocol's corners: stray output,
wrong-typed records, TRACE errors, crashes, GLOBAL state, timeouts, early stops. The real
published `airbyte-source-faker` connector (installed into its own virtualenv by
scripts/install_connector.sh) covers spec, check, discover, a full read and an
incremental read with state.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from airbyte_protocol.models import (
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    DestinationSyncMode,
    SyncMode,
)
from pydantic import ValidationError
from rich.console import Console

from ingestion.airbyte_typing import (
    META_COLUMN,
    airbyte_columns,
    cast_column,
    type_records,
    typed_schema,
)
from ingestion.bronze import committed_files
from ingestion.connections import ConnectionsError, load_connections
from ingestion.drift import SchemaConformer, SchemaDriftError
from ingestion.empty_refresh import committed_rows
from ingestion.json_schema import arrow_schema, column_of, columns_of, records_to_batch
from ingestion.protocol import Checkpoint, Records, Rejected, SourceError, SourceTotals
from ingestion.sources import get_source
from ingestion.sources.external import (
    SHARED_STATE_KEY,
    ExternalConfig,
    ExternalSource,
    state_document,
)
from ingestion.sync import sync_connection
from lake import open_lake
from orchestration.connections_command import starter_file
from orchestration.sync_command import run_sync

REPO_ROOT = Path(__file__).resolve().parent.parent
FAKER_VERSION = "7.2.1"
FAKER_STREAMS = ["users", "products", "purchases"]
# read_faker: a read that writes nothing for this long is stopped, then tried again. In
# loaded CI runs on 2026-12-07 the connector's reads (not its spec, check or discover) hung
# while the other worker ran the server-mode and serving tests: every read of two runs (five
# in a row at 15 s, three at 60 s), and the first two reads of each fixture in a third, run
# with the spawn start method (so not, or not only, its pool's fork). Outside those runs the
# reads never hung (the module alone, after the tiny-build modules, beside test_sync_kills).
# A fourth run needed five and four attempts (289 and 221 s of the fixtures): ten outlast
# such a phase; a read takes 2 to 4 s on an idle machine
FAKER_IDLE_TIMEOUT_S = 60
FAKER_ATTEMPTS = 10


# -- helpers ------------------------------------------------------------------------------
def configured(
    names: list[str], mode: SyncMode = SyncMode.full_refresh
) -> ConfiguredAirbyteCatalog:
    """Our configured catalog, as the engine builds it (no JSON schema: the source
    discovers it)."""
    destination = (
        DestinationSyncMode.append
        if mode == SyncMode.incremental
        else DestinationSyncMode.overwrite
    )
    return ConfiguredAirbyteCatalog(
        streams=[
            ConfiguredAirbyteStream(
                stream=AirbyteStream(name=n, json_schema={}, supported_sync_modes=[mode]),
                sync_mode=mode,
                destination_sync_mode=destination,
            )
            for n in names
        ]
    )


def collect(events) -> dict[str, Any]:
    """Events by kind: records as one table per stream, rejects, checkpoints, totals."""
    batches: dict[str, list[pa.RecordBatch]] = {}
    out: dict[str, Any] = {"rejected": {}, "checkpoints": [], "totals": {}, "order": []}
    for event in events:
        out["order"].append((type(event).__name__, event.stream))
        if isinstance(event, Records):
            batches.setdefault(event.stream, []).append(event.data)
        elif isinstance(event, Rejected):
            out["rejected"].setdefault(event.stream, []).extend(event.rejects.table.to_pylist())
        elif isinstance(event, Checkpoint):
            out["checkpoints"].append((event.stream, event.state))
        elif isinstance(event, SourceTotals):
            out["totals"][event.stream] = event.rows
    out["batches"] = batches
    out["tables"] = {name: pa.Table.from_batches(b) for name, b in batches.items()}
    return out


def last_states(checkpoints: list[tuple[str, dict]]) -> dict[str, dict]:
    states: dict[str, dict] = {}
    for name, state in checkpoints:
        states[name] = state
    return states


def record(stream: str, data: Any) -> dict[str, Any]:
    return {"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 1}}


def stream_state(stream: str, blob: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": stream}, "stream_state": blob},
        },
    }


ITEMS_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
        "price": {"type": ["null", "number"]},
        "updated_at": {"type": ["null", "string"], "format": "date-time"},
        "tags": {"type": ["null", "array"], "items": {"type": "string"}},
    },
}

FAKE_CONNECTOR = '''#!{python}
"""A fake Airbyte connector: answers from scenario.json next to it, and records what it
was given (arguments, the files' modes and contents) in seen-<command>.json."""
import json, os, sys, time
from pathlib import Path

here = Path(__file__).resolve().parent
scenario = json.loads((here / "scenario.json").read_text())
command = sys.argv[1]
args = dict(zip(sys.argv[2::2], sys.argv[3::2]))
seen = {{"argv": sys.argv[1:], "pid": os.getpid(), "env": os.environ.get("FAKE_ENV")}}
for key in ("--config", "--catalog", "--state"):
    if key in args:
        path = args[key]
        seen[key] = {{
            "path": path,
            "mode": os.stat(path).st_mode & 0o777,
            "content": json.loads(Path(path).read_text()),
        }}
(here / f"seen-{{command}}.json").write_text(json.dumps(seen))
answer = scenario.get(command, {{}})
if command == "discover" and "stdout" not in answer:
    modes = ["full_refresh", "incremental"]
    streams = [
        {{"name": name, "json_schema": schema, "supported_sync_modes": modes}}
        for name, schema in scenario["streams"].items()
    ]
    answer = {{**answer, "stdout": [{{"type": "CATALOG", "catalog": {{"streams": streams}}}}]}}
if command == "check" and "stdout" not in answer:
    status = {{"type": "CONNECTION_STATUS", "connectionStatus": {{"status": "SUCCEEDED"}}}}
    answer = {{"stdout": [status]}}
time.sleep(answer.get("sleep", 0))
for line in answer.get("stdout", []):
    print(line if isinstance(line, str) else json.dumps(line), flush=True)
sys.stderr.write(answer.get("stderr", ""))
sys.stderr.flush()
time.sleep(answer.get("hang_after_output", 0))
if answer.get("forever"):
    i = 0
    while True:
        i += 1
        data = {{"stream": "items", "data": {{"id": i}}, "emitted_at": 1}}
        print(json.dumps({{"type": "RECORD", "record": data}}), flush=True)
        time.sleep(0.01)
sys.exit(answer.get("exit", 0))
'''


class Fake:
    """A fake connector in a folder: its scenario, and what it saw."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.executable = folder / "connector"
        self.executable.write_text(FAKE_CONNECTOR.format(python=sys.executable))
        self.executable.chmod(0o755)
        self.scenario(streams={"items": ITEMS_SCHEMA})

    def scenario(self, **commands: Any) -> Fake:
        current = {}
        path = self.folder / "scenario.json"
        if path.exists():
            current = json.loads(path.read_text())
        current.update(commands)
        path.write_text(json.dumps(current))
        return self

    def seen(self, command: str) -> dict[str, Any]:
        return json.loads((self.folder / f"seen-{command}.json").read_text())

    def config(self, **overrides: Any) -> ExternalConfig:
        raw = {"command": [str(self.executable)], "config": {"api_key": "s3cret"}, **overrides}
        return ExternalSource().parse_config(raw)


@pytest.fixture
def fake(tmp_path: Path) -> Fake:
    return Fake(tmp_path)


# -- the JSON schema mapping --------------------------------------------------------------
def test_json_schema_to_arrow_mapping():
    schema = arrow_schema(
        {
            "type": "object",
            "properties": {
                "i": {"type": "integer"},
                "i_null": {"type": ["null", "integer"]},
                "i_airbyte": {"type": "number", "airbyte_type": "integer"},
                "n": {"type": ["number", "null"]},
                "b": {"type": "boolean"},
                "s": {"type": "string"},
                "ts": {"type": "string", "format": "date-time"},
                "ts_tz": {
                    "type": ["null", "string"],
                    "format": "date-time",
                    "airbyte_type": "timestamp_with_timezone",
                },
                "ts_naive": {
                    "type": "string",
                    "format": "date-time",
                    "airbyte_type": "timestamp_without_timezone",
                },
                "d": {"type": ["null", "string"], "format": "date"},
                "obj": {"type": "object", "properties": {"a": {"type": "string"}}},
                "arr": {"type": ["null", "array"], "items": {"type": "integer"}},
                "untyped": {},
                "union": {"type": ["null", "string", "integer"]},
                "int_or_number": {"type": ["integer", "number"]},
                "any_of": {"anyOf": [{"type": "null"}, {"type": "string", "format": "date"}]},
                "implicit_object": {"properties": {"x": {"type": "integer"}}},
            },
        }
    )
    expected = {
        "i": (pa.int64(), False),
        "i_null": (pa.int64(), True),
        "i_airbyte": (pa.int64(), False),
        "n": (pa.float64(), True),
        "b": (pa.bool_(), False),
        "s": (pa.string(), False),
        "ts": (pa.timestamp("us", "UTC"), False),
        "ts_tz": (pa.timestamp("us", "UTC"), True),
        "ts_naive": (pa.timestamp("us"), False),
        "d": (pa.date32(), True),
        "obj": (pa.string(), False),
        "arr": (pa.string(), True),
        "untyped": (pa.string(), True),
        "union": (pa.string(), True),
        "int_or_number": (pa.float64(), False),
        "any_of": (pa.date32(), True),
        "implicit_object": (pa.string(), True),
    }
    assert {f.name: (f.type, f.nullable) for f in schema} == expected
    assert schema.names == list(expected)  # the properties' order


def test_records_convert_in_batches_and_misfits_are_located():
    columns = [
        column_of("id", {"type": "integer"}),
        column_of("price", {"type": ["null", "number"]}),
        column_of("ok", {"type": ["null", "boolean"]}),
        column_of("at", {"type": ["null", "string"], "format": "date-time"}),
        column_of(
            "naive",
            {
                "type": ["null", "string"],
                "format": "date-time",
                "airbyte_type": "timestamp_without_timezone",
            },
        ),
        column_of("day", {"type": ["null", "string"], "format": "date"}),
        column_of("meta", {"type": ["null", "object"]}),
        column_of("tags", {"type": ["null", "array"]}),
        column_of("code", {"type": ["null", "string", "integer"]}),
    ]
    schema = pa.schema([c.field for c in columns])
    rows = [
        # offsets, naive times (UTC, as Airbyte destinations read them), nanoseconds
        {
            "id": 1,
            "price": 2,
            "ok": True,
            "at": "2024-04-08T18:07:20+02:00",
            "naive": "2024-04-08T18:07:20",
            "day": "2024-04-08",
            "meta": {"a": [1, 2]},
            "tags": ["x"],
            "code": "A1",
            "extra": "not in the schema",
        },
        {
            "id": 2.0,
            "price": 2.5,
            "at": "2024-04-08T18:07:20.123456789Z",
            "naive": "2024-04-08T18:07:20Z",
            "day": "2024-04-08T23:00:00",
            "code": 7,
        },
        {"id": 3, "at": "2024-04-08T18:07:20", "day": None},
        {"id": 4, "at": "2024-04-08"},
    ]
    batch, bad = records_to_batch(rows, columns, schema)
    assert bad == {}
    assert batch.schema == schema
    data = batch.to_pydict()
    assert data["id"] == [1, 2, 3, 4]
    assert data["price"] == [2.0, 2.5, None, None]
    assert data["ok"] == [True, None, None, None]
    assert [v.astimezone(UTC).replace(tzinfo=None) for v in data["at"]] == [
        datetime(2024, 4, 8, 16, 7, 20),
        datetime(2024, 4, 8, 18, 7, 20, 123456),
        datetime(2024, 4, 8, 18, 7, 20),
        datetime(2024, 4, 8),
    ]
    assert data["naive"] == [datetime(2024, 4, 8, 18, 7, 20)] * 2 + [None, None]
    assert data["day"] == [date(2024, 4, 8), date(2024, 4, 8), None, None]
    assert [json.loads(v) if v else v for v in data["meta"]] == [{"a": [1, 2]}, None, None, None]
    assert data["tags"] == ['["x"]', None, None, None]
    assert data["code"] == ["A1", "7", None, None]

    # values that do not fit: only those rows are left out, each with its reason
    rows = [
        {"id": 1, "price": 1.5},
        {"id": "abc"},
        {"id": 2.5},
        {"id": True},
        {"id": 2**70},
        {"id": None},
        {"id": 3, "price": "1.5"},
        {"id": 4, "ok": 1},
        {"id": 5, "at": "yesterday"},
        {"id": 6, "day": "2024-02-30"},
        {"id": 7, "meta": [1]},
        {"id": 8, "code": {"x": 1}},
        {"id": 9},
    ]
    batch, bad = records_to_batch(rows, columns, schema)
    assert batch.column("id").to_pylist() == [1, 9]
    assert sorted(bad) == list(range(1, 12))
    assert bad[1] == "field 'id': expected an integer, got string \"abc\""
    assert bad[2] == "field 'id': expected an integer, got number 2.5"
    assert bad[3] == "field 'id': expected an integer, got boolean true"
    assert "got integer 1180591620717411303424" in bad[4]
    assert bad[5] == "field 'id' is missing or null but the schema says it is not nullable"
    assert bad[6] == "field 'price': expected a number, got string \"1.5\""
    assert bad[7] == "field 'ok': expected a boolean, got integer 1"
    assert bad[8] == "field 'at': expected a date-time string, got string \"yesterday\""
    assert bad[9].startswith("field 'day': expected a date string")
    assert bad[10] == "field 'meta': expected an object, got array [1]"
    assert bad[11] == "field 'code': expected a scalar, got object {\"x\":1}"


def test_state_document_round_trips_stream_global_and_legacy_state():
    catalog = configured(["a", "b"])
    assert state_document({}, catalog) is None
    assert state_document({"a": {}, "b": {}}, catalog) is None
    assert state_document({"a": {"cursor": 1}, "b": {}}, catalog) == [
        {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": "a"}, "stream_state": {"cursor": 1}},
        }
    ]
    old = {"type": "GLOBAL", "global": {"shared_state": {"lsn": 1}, "stream_states": []}}
    new = {"type": "GLOBAL", "global": {"shared_state": {"lsn": 2}, "stream_states": []}}
    # a sync that stopped between the streams' checkpoints: the oldest copy goes back
    states = {
        "a": {SHARED_STATE_KEY: {"seq": 2, "message": new}},
        "b": {SHARED_STATE_KEY: {"seq": 1, "message": old}},
    }
    assert state_document(states, catalog) == [old]
    legacy = {"type": "LEGACY", "data": {"a": {"cursor": 5}}}
    assert state_document({"a": {SHARED_STATE_KEY: {"seq": 1, "message": legacy}}}, catalog) == {
        "a": {"cursor": 5}
    }


# -- config -------------------------------------------------------------------------------
def test_config_validates_the_executable(tmp_path: Path, monkeypatch, fake: Fake):
    source = ExternalSource()
    with pytest.raises(ValidationError, match=r"connector executable bin/nope does not exist"):
        source.parse_config({"command": ["bin/nope"]})
    plain = tmp_path / "plain.txt"
    plain.write_text("not a program")
    with pytest.raises(ValidationError, match=r"plain.txt is not an executable file"):
        source.parse_config({"command": [str(plain)]})
    with pytest.raises(ValidationError, match=r"no-such-connector-xyz is not on PATH"):
        source.parse_config({"command": ["no-such-connector-xyz"]})
    with pytest.raises(ValidationError, match="extra"):
        source.parse_config({"command": [str(fake.executable)], "unknown": 1})
    # relative to the current directory, resolved once
    monkeypatch.chdir(tmp_path)
    config = source.parse_config({"command": ["./connector", "--flag"], "streams": [{"name": "x"}]})
    assert config.command == [str(fake.executable), "--flag"]
    assert config.batch_records == 10_000 and config.timeout_seconds == 120
    assert isinstance(get_source("external"), ExternalSource)


# -- fake connectors ----------------------------------------------------------------------
def test_spec_check_discover_with_a_fake(fake: Fake):
    source = ExternalSource()
    config = fake.config(env={"FAKE_ENV": "from-config"})
    fake.scenario(
        spec={
            "stdout": [
                "a stray line of text",
                {"type": "LOG", "log": {"level": "INFO", "message": "starting"}},
                {"type": "SPEC", "spec": {"connectionSpecification": {"type": "object"}}},
            ]
        }
    )
    assert source.spec(config).connectionSpecification == {"type": "object"}
    assert "command" in source.spec().connectionSpecification["properties"]  # our own
    source.check(config)
    seen = fake.seen("check")
    assert seen["env"] == "from-config"
    assert seen["--config"]["content"] == {"api_key": "s3cret"}
    assert seen["--config"]["mode"] == 0o600  # it may hold secrets
    assert not Path(seen["--config"]["path"]).exists()  # and is gone afterwards
    catalog = source.discover(config)
    assert [s.name for s in catalog.streams] == ["items"]

    failed = {
        "type": "CONNECTION_STATUS",
        "connectionStatus": {"status": "FAILED", "message": "bad key"},
    }
    fake.scenario(check={"stdout": [failed]})
    with pytest.raises(SourceError, match="connector: check failed: bad key"):
        source.check(config)
    fake.scenario(check={"stdout": ["not json"], "stderr": "Traceback\nKeyError: 'x'\n", "exit": 1})
    with pytest.raises(SourceError, match=r"(?s)check exited with code 1.*KeyError: 'x'"):
        source.check(config)
    trace = {
        "type": "TRACE",
        "trace": {"type": "ERROR", "emitted_at": 1, "error": {"message": "host unreachable"}},
    }
    fake.scenario(discover={"stdout": [trace], "exit": 1})
    with pytest.raises(SourceError, match="discover failed: host unreachable"):
        source.discover(config)
    no_shebang = fake.folder / "no-shebang"
    no_shebang.write_text("")
    no_shebang.chmod(0o755)
    with pytest.raises(
        SourceError, match=r"no-shebang: cannot run .*no-shebang: Exec format error"
    ):
        source.check(source.parse_config({"command": [str(no_shebang)]}))
    fake.scenario(discover={"sleep": 30})
    started = time.monotonic()
    with pytest.raises(
        SourceError, match=r"discover did not finish within 1 s \(timeout_seconds\)"
    ):
        source.discover(fake.config(timeout_seconds=1))
    assert time.monotonic() - started < 15


def test_read_batches_checkpoints_rejects_and_totals(fake: Fake, caplog):
    fake.scenario(
        read={
            "stdout": [
                "Starting connector...",  # line 1: stray text, ignored
                {"type": "LOG", "log": {"level": "WARN", "message": "slow API"}},  # 2
                record(
                    "items",
                    {
                        "id": 1,
                        "name": "a",
                        "price": 1.5,
                        "tags": ["x"],
                        "updated_at": "2024-01-01T00:00:00Z",
                    },
                ),  # 3
                record("items", {"id": "abc", "name": "wrong"}),  # 4: rejected
                record("items", {"id": 2, "name": None}),  # 5
                record("other", {"id": 1}),  # 6: a stream not configured
                stream_state("items", {"cursor": "2024-01-01"}),  # 7
                "",  # 8: blank
                record("items", {"id": 3, "extra": 1}),  # 9
                record("items", "not an object"),  # 10: rejected
                record("items", {"id": 4, "updated_at": "not a time"}),  # 11: rejected
                record("items", {"id": 5}),  # 12
                record("items", {"id": 6}),  # 13
                stream_state("items", {"cursor": "2024-01-02"}),  # 14
                record("items", {"id": 7}),  # 15: after the last state
            ]
        }
    )
    # uncastable values send the record to the DLQ (the default nulls them: below)
    config = fake.config(batch_records=2, streams=[{"name": "items", "uncastable_values": "dlq"}])
    caplog.set_level(logging.DEBUG, logger="ingestion.sources.external")
    out = collect(ExternalSource().read(config, configured(["items"], SyncMode.incremental), {}))
    table = out["tables"]["items"]
    assert table.column("id").to_pylist() == [1, 2, 3, 5, 6, 7]
    assert table.schema == typed_schema(airbyte_columns(columns_of(ITEMS_SCHEMA), []))
    assert table.column("updated_at").to_pylist()[0] == datetime(2024, 1, 1, tzinfo=UTC)
    assert table.column("tags").to_pylist()[0] == '["x"]'
    assert all(b.num_rows <= 2 for b in out["batches"]["items"])

    # records that do not fit the schema (a schema_policy matter) and records that are not
    # records at all come in two rejections
    rejected = sorted(out["rejected"]["items"], key=lambda r: r["line_number"])
    assert [(r["location"], r["line_number"]) for r in rejected] == [
        ("stdout", 4),
        ("stdout", 10),
        ("stdout", 11),
    ]
    assert rejected[0]["raw"] == '{"id": "abc", "name": "wrong"}'  # as the connector wrote it
    assert rejected[0]["reason"] == "field 'id': expected an integer, got string \"abc\""
    assert rejected[1]["raw"] == '"not an object"'
    assert "not a JSON object" in rejected[1]["reason"]
    assert "field 'updated_at'" in rejected[2]["reason"]

    # every record before a state is flushed before its checkpoint
    order = [kind for kind, _ in out["order"]]
    first_checkpoint = order.index("Checkpoint")
    assert order[:first_checkpoint].count("Records") >= 1
    assert out["checkpoints"] == [
        ("items", {"cursor": "2024-01-01"}),
        ("items", {"cursor": "2024-01-02"}),
        ("items", {"cursor": "2024-01-02"}),  # the final one, after the last records
    ]
    assert order[-2:] == ["SourceTotals", "Checkpoint"]
    assert out["totals"] == {"items": 9}  # RECORD messages of the stream, rejects included
    assert out["totals"]["items"] == table.num_rows + len(rejected)

    # the connector's logs at their level; stray stdout text logged and skipped
    logged = {(r.levelno, r.getMessage()) for r in caplog.records}
    assert (logging.WARNING, "connector: slow API") in logged
    assert any("stdout line 1 is not a protocol message" in m for _, m in logged)
    assert any("'other', which is not configured" in m for _, m in logged)
    assert (
        logging.WARNING,
        "connector: stream 'items': records have properties the stream's JSON schema "
        "does not declare, left out: extra",
    ) in logged

    # what the connector was given: the discovered schema with our sync mode
    seen = fake.seen("read")
    stream = seen["--catalog"]["content"]["streams"][0]
    assert stream["stream"]["json_schema"] == ITEMS_SCHEMA
    assert stream["sync_mode"] == "incremental"
    assert "--state" not in seen  # no state yet
    assert seen["--config"]["mode"] == 0o600
    assert not Path(seen["--config"]["path"]).parent.exists()


def test_read_passes_stream_state_back(fake: Fake):
    fake.scenario(read={"stdout": []})
    catalog = configured(["items"], SyncMode.incremental)
    out = collect(ExternalSource().read(fake.config(), catalog, {"items": {"cursor": 5}}))
    assert fake.seen("read")["--state"]["content"] == [
        {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": "items"}, "stream_state": {"cursor": 5}},
        }
    ]
    # nothing read: the state stays as it was
    assert out["checkpoints"] == [("items", {"cursor": 5})]
    assert out["totals"] == {"items": 0}
    assert out["tables"] == {}


def test_a_full_refresh_stream_never_gets_its_state_back(fake: Fake):
    """The connector would take the state of its finished full refresh as "all read"."""
    fake.scenario(read={"stdout": [record("items", {"id": 1})]})
    out = collect(ExternalSource().read(fake.config(), configured(["items"]), {"items": {"c": 5}}))
    assert "--state" not in fake.seen("read")
    assert out["tables"]["items"].num_rows == 1
    assert out["checkpoints"] == [("items", {})]


TYPED_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "code": {"type": "string"},  # the connector's schema says string; integers come too
        "amount": {"type": "number"},  # no "null" in its type; nulls come anyway
        "qty": {"type": ["null", "integer"]},
        "paid_at": {"type": ["null", "string"], "format": "date-time"},
        "meta": {"type": ["null", "object"]},
        "_ab_source_file_url": {"type": "string"},
    },
}


def typed_discover(primary_key: list[list[str]] | None) -> dict[str, Any]:
    stream = {
        "name": "orders",
        "json_schema": TYPED_SCHEMA,
        "supported_sync_modes": ["full_refresh"],
        "source_defined_primary_key": primary_key,
    }
    return {"stdout": [{"type": "CATALOG", "catalog": {"streams": [stream]}}]}


def test_records_are_typed_as_airbyte_destinations_type_them(fake: Fake):
    lines = [
        '{"type": "RECORD", "record": {"stream": "orders", "emitted_at": 1, "data": '
        + data
        + (
            ', "meta": {"changes": [{"field": "x", "change": "TRUNCATED", '
            '"reason": "SOURCE_FIELD_SIZE_LIMITATION"}]}'
            if n == 2
            else ""
        )
        + "}}"
        for n, data in enumerate(
            [
                '{"id": 1, "code": "A1", "amount": 1.50, "qty": 2, "_ab_source_file_url": "a.csv"}',
                '{"id": 2, "code": 7, "amount": null, "qty": "12", '
                '"paid_at": "2024-01-02T03:04:05Z"}',
                '{"id": "3", "code": {"k": 1}, "amount": "2.5", "qty": 1.0, "meta": {"a": [1]}}',
                '{"id": 4, "amount": "n/a", "qty": "many", "paid_at": "yesterday", "meta": [1]}',
                '{"id": null, "code": "no key", "_ab_source_file_url": "b.csv"}',
                '{"id": "x1", "code": "bad key",  "amount": 1.0}',
            ]
        )
    ]
    fake.scenario(streams={}, discover=typed_discover([["id"]]), read={"stdout": lines})
    catalog = configured(["orders"])
    out = collect(ExternalSource().read(fake.config(batch_records=4), catalog, {}))
    table = out["tables"]["orders"]
    schema = table.schema
    assert not schema.field("id").nullable  # the primary key
    assert all(schema.field(n).nullable for n in ("code", "amount", "qty", "paid_at", "meta"))
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == [1, 2, 3, 4]
    assert [r["code"] for r in rows] == ["A1", "7", '{"k":1}', None]
    assert [r["amount"] for r in rows] == [1.5, None, 2.5, None]
    assert [r["qty"] for r in rows] == [2, 12, 1, None]
    assert rows[1]["paid_at"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [r["meta"] for r in rows] == [None, None, '{"a":[1]}', None]
    changes = [json.loads(r[META_COLUMN])["changes"] for r in rows]
    nulled = {"change": "NULLED", "reason": "DESTINATION_SERIALIZATION_ERROR"}
    assert changes[0] == [] and changes[1] == []
    # the source's own changes come first
    assert changes[2] == [
        {"field": "x", "change": "TRUNCATED", "reason": "SOURCE_FIELD_SIZE_LIMITATION"}
    ]
    assert changes[3] == [{"field": f, **nulled} for f in ("amount", "qty", "paid_at", "meta")]

    # a null or uncastable primary key: the DLQ, with the record exactly as written
    rejected = out["rejected"]["orders"]
    assert [r["reason"] for r in rejected] == [
        "primary key field 'id' is missing or null",
        "field 'id': expected an integer, got string \"x1\"",
    ]
    assert rejected[0]["raw"] == '{"id": null, "code": "no key", "_ab_source_file_url": "b.csv"}'
    assert rejected[1]["raw"] == '{"id": "x1", "code": "bad key",  "amount": 1.0}'
    assert out["totals"]["orders"] == table.num_rows + len(rejected)

    # uncastable_values: dlq sends the record with the uncastable values to the DLQ instead
    config = fake.config(streams=[{"name": "orders", "uncastable_values": "dlq"}])
    out = collect(ExternalSource().read(config, catalog, {}))
    assert out["tables"]["orders"].column("id").to_pylist() == [1, 2, 3]
    dead = {r["raw"]: r["reason"] for r in out["rejected"]["orders"]}
    assert dead[lines[3].split('"data": ')[1][:-2]] == (
        "field 'amount': expected a number, got string \"n/a\""
    )
    with pytest.raises(ValidationError, match="uncastable_values"):
        fake.config(streams=[{"name": "orders", "uncastable_values": "null"}])


def test_global_state_round_trips(fake: Fake):
    items2 = {"type": "object", "properties": {"id": {"type": ["null", "integer"]}}}
    fake.scenario(streams={"items": ITEMS_SCHEMA, "items2": items2})
    global_state = {
        "shared_state": {"lsn": 42},
        "stream_states": [
            {"stream_descriptor": {"name": "items"}, "stream_state": {"done": True}},
            {"stream_descriptor": {"name": "items2"}, "stream_state": {"done": False}},
        ],
    }
    fake.scenario(
        read={
            "stdout": [
                record("items", {"id": 1}),
                record("items2", {"id": 2}),
                {"type": "STATE", "state": {"type": "GLOBAL", "global": global_state}},
            ]
        }
    )
    source = ExternalSource()
    catalog = configured(["items", "items2"], SyncMode.incremental)
    out = collect(source.read(fake.config(), catalog, {}))
    # a GLOBAL state flushes every stream, then checkpoints every stream
    assert out["order"][:4] == [
        ("Records", "items"),
        ("Records", "items2"),
        ("Checkpoint", "items"),
        ("Checkpoint", "items2"),
    ]
    states = last_states(out["checkpoints"])
    shared = {"seq": 1, "message": {"type": "GLOBAL", "global": global_state}}
    assert states == {"items": {SHARED_STATE_KEY: shared}, "items2": {SHARED_STATE_KEY: shared}}

    # the next read gets it back as it came, and its next GLOBAL state gets a later number
    out = collect(source.read(fake.config(), catalog, states))
    assert fake.seen("read")["--state"]["content"] == [{"type": "GLOBAL", "global": global_state}]
    assert last_states(out["checkpoints"])["items"][SHARED_STATE_KEY]["seq"] == 2

    # LEGACY state: the blob itself is the state file
    fake.scenario(read={"stdout": [{"type": "STATE", "state": {"data": {"items": {"c": 1}}}}]})
    out = collect(source.read(fake.config(), catalog, {}))
    states = last_states(out["checkpoints"])
    assert states["items"][SHARED_STATE_KEY]["message"] == {
        "type": "LEGACY",
        "data": {"items": {"c": 1}},
    }
    collect(source.read(fake.config(), catalog, states))
    assert fake.seen("read")["--state"]["content"] == {"items": {"c": 1}}


def test_read_trace_error_is_a_source_error(fake: Fake):
    trace = {
        "type": "TRACE",
        "trace": {
            "type": "ERROR",
            "emitted_at": 1,
            "error": {"message": "Rate limit exceeded on /items", "internal_message": "429"},
        },
    }
    fake.scenario(read={"stdout": [record("items", {"id": 1}), trace], "exit": 1})
    events = []
    with pytest.raises(
        SourceError, match=r"connector: read failed: Rate limit exceeded on /items \(exit code 1\)"
    ):
        for event in ExternalSource().read(fake.config(), configured(["items"]), {}):
            events.append(event)
    # the record after the last state is not handed over: it would be committed without it
    assert not [e for e in events if isinstance(e, Records | Checkpoint)]

    # a TRACE error with exit code 0 fails the read too
    fake.scenario(read={"stdout": [trace], "exit": 0})
    with pytest.raises(SourceError, match=r"read failed: Rate limit exceeded on /items$"):
        list(ExternalSource().read(fake.config(), configured(["items"]), {}))


def test_read_nonzero_exit_is_a_source_error_with_stderr(fake: Fake):
    stderr = "".join(f"noise {i}\n" for i in range(100)) + "Traceback ...\nMemoryError\n"
    fatal = {"type": "LOG", "log": {"level": "FATAL", "message": "out of memory\ndetails"}}
    fake.scenario(
        read={"stdout": [record("items", {"id": 1}), fatal], "stderr": stderr, "exit": 137}
    )
    with pytest.raises(SourceError) as caught:
        list(ExternalSource().read(fake.config(), configured(["items"]), {}))
    message = str(caught.value)
    assert message.startswith(
        "connector: read exited with code 137; last error logged: out of memory;"
    )
    assert message.endswith("Traceback ...\nMemoryError")
    assert "noise 99" in message and "noise 50" not in message  # only the last lines


def test_read_unknown_stream_and_unsupported_mode(fake: Fake):
    with pytest.raises(
        SourceError, match=r"stream 'nope' is not in the connector's catalog \(it offers items\)"
    ):
        list(ExternalSource().read(fake.config(), configured(["nope"]), {}))
    fake.scenario(
        discover={
            "stdout": [
                {
                    "type": "CATALOG",
                    "catalog": {
                        "streams": [
                            {
                                "name": "items",
                                "json_schema": ITEMS_SCHEMA,
                                "supported_sync_modes": ["full_refresh"],
                            }
                        ]
                    },
                }
            ]
        }
    )
    with pytest.raises(SourceError, match="'items' does not support incremental reads"):
        list(ExternalSource().read(fake.config(), configured(["items"], SyncMode.incremental), {}))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" not in status.read_text()


def test_closing_the_read_kills_the_connector(fake: Fake):
    fake.scenario(read={"forever": True})
    events = ExternalSource().read(fake.config(batch_records=3), configured(["items"]), {})
    first = next(events)
    assert isinstance(first, Records) and first.data.num_rows == 3
    pid = fake.seen("read")["pid"]
    config_dir = Path(fake.seen("read")["--config"]["path"]).parent
    assert _alive(pid) and config_dir.exists()
    events.close()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    assert not config_dir.exists()


def test_a_connector_that_goes_silent_is_stopped_with_a_clear_error(fake: Fake):
    record = {"type": "RECORD", "record": {"stream": "items", "data": {"id": 1}, "emitted_at": 1}}
    fake.scenario(read={"stdout": [record], "hang_after_output": 120})
    config = fake.config(read_idle_timeout_seconds=1)
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"wrote nothing for 1 s .*read_idle_timeout_seconds"):
        list(ExternalSource().read(config, configured(["items"]), {}))
    assert time.monotonic() - started < 30
    assert not _alive(fake.seen("read")["pid"])


def test_cli_runs_the_external_source(fake: Fake, tmp_path: Path):
    """`python -m ingestion.sources.external` is itself a connector wrapping another one."""
    config = tmp_path / "external.json"
    config.write_text(json.dumps({"command": [str(fake.executable)], "config": {}}))
    result = subprocess.run(
        [sys.executable, "-m", "ingestion.sources.external", "check", "--config", str(config)],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    )
    assert orjson.loads(result.stdout.splitlines()[-1])["connectionStatus"]["status"] == "SUCCEEDED"


# -- the real connector: airbyte-source-faker ---------------------------------------------
@pytest.fixture(scope="session")
def faker_executable() -> Path:
    """Installs airbyte-source-faker into .cache/connectors/source-faker (its own venv;
    idempotent). No network or no package: the tests fail, they do not skip."""
    result = subprocess.run(
        [
            "bash",
            str(REPO_ROOT / "scripts" / "install_connector.sh"),
            "source-faker",
            FAKER_VERSION,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.fail(
            f"cannot install airbyte-source-faker=={FAKER_VERSION} "
            f"(exit {result.returncode}):\n{result.stderr[-3000:]}"
        )
    executable = Path(result.stdout.strip().splitlines()[-1])
    assert executable.is_file() and os.access(executable, os.X_OK)
    return executable


def faker_config(executable: Path, relative: bool = False, **config: Any) -> ExternalConfig:
    command = executable.relative_to(REPO_ROOT) if relative else executable
    return ExternalSource().parse_config(
        {
            "command": [str(command)],
            "config": {
                "count": 200,
                "seed": 1,
                "records_per_slice": 50,
                "parallelism": 1,
                **config,
            },
            "batch_records": 64,
            # the watchdog stops a read that hangs (on a loaded machine; cause unknown) after
            # FAKER_IDLE_TIMEOUT_S without output, and read_faker tries again
            "read_idle_timeout_seconds": FAKER_IDLE_TIMEOUT_S,
            "streams": [{"name": n} for n in FAKER_STREAMS],
        }
    )


def read_faker(config: ExternalConfig, catalog, state: dict) -> dict[str, Any]:
    """One read of the real connector, tried again (FAKER_ATTEMPTS in all) when the watchdog
    had to stop it (a read that hangs, above); any other failure fails the test."""
    for _ in range(FAKER_ATTEMPTS - 1):
        try:
            return collect(ExternalSource().read(config, catalog, state))
        except SourceError as exc:
            if "read_idle_timeout_seconds" not in str(exc):
                raise
    return collect(ExternalSource().read(config, catalog, state))


@pytest.fixture(scope="module")
def faker_first_read(faker_executable: Path) -> dict[str, Any]:
    config = faker_config(faker_executable, always_updated=False)
    catalog = configured(FAKER_STREAMS, SyncMode.incremental)
    started = time.perf_counter()
    out = read_faker(config, catalog, {})
    out["seconds"] = time.perf_counter() - started
    return out


@pytest.mark.integration
def test_faker_spec_check_discover(faker_executable: Path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # the command is relative to the repository
    source = ExternalSource()
    config = faker_config(faker_executable, relative=True)
    assert config.command == [str(faker_executable)]
    spec = source.spec(config)
    assert {"count", "seed", "records_per_slice"} <= set(spec.connectionSpecification["properties"])
    source.check(config)
    with pytest.raises(
        SourceError, match="check failed: Config validation error: 'many' is not of type 'integer'"
    ):
        source.check(faker_config(faker_executable, count="many"))
    catalog = source.discover(config)
    streams = {s.name: s for s in catalog.streams}
    assert set(streams) == set(FAKER_STREAMS)
    users = streams["users"]
    assert users.json_schema["properties"]["id"] == {"type": "integer"}
    assert users.source_defined_cursor and users.default_cursor_field == ["updated_at"]
    assert SyncMode.incremental in users.supported_sync_modes


@pytest.mark.integration
def test_faker_full_read(faker_first_read: dict[str, Any]):
    out = faker_first_read
    tables = out["tables"]
    # count=200: 200 users and 200 purchases; the products stream is a fixed list of 100
    assert {name: t.num_rows for name, t in tables.items()} == {
        "users": 200,
        "products": 100,
        "purchases": 200,
    }
    assert out["totals"] == {"users": 200, "products": 100, "purchases": 200}
    assert out["rejected"] == {}
    assert all(b.num_rows <= 64 for bs in out["batches"].values() for b in bs)
    for name, table in tables.items():
        assert table.column("id").type == pa.int64(), name
        assert sorted(table.column("id").to_pylist()) == list(range(1, table.num_rows + 1)), name
        for column in ("created_at", "updated_at"):
            assert table.schema.field(column).type == pa.timestamp("us", "UTC"), (name, column)
            assert table.column(column).null_count == 0, (name, column)

    users = tables["users"]
    assert users.schema.field("age").type == pa.int64()
    assert users.schema.field("name").type == pa.string()
    address = json.loads(users.column("address")[0].as_py())  # an object, as JSON text
    assert {"city", "postal_code", "country_code"} <= set(address)

    products = tables["products"]
    assert products.schema.field("price").type == pa.float64()
    assert products.schema.field("year").type == pa.int64()

    purchases = tables["purchases"]
    for column in ("added_to_cart_at", "purchased_at", "returned_at"):
        field = purchases.schema.field(column)
        assert field.type == pa.timestamp("us", "UTC") and field.nullable
    # some purchases are never bought or never returned
    assert 0 < purchases.column("purchased_at").null_count < 200
    assert 0 < purchases.column("returned_at").null_count < 200
    # faker writes purchases.created_at without an offset: read as UTC, never rejected
    assert purchases.column("created_at").null_count == 0

    states = last_states(out["checkpoints"])
    assert states["users"]["loop_offset"] == 200
    assert states["purchases"]["loop_offset"] == 200
    assert {s["seed"] for s in states.values()} == {1}
    # a checkpoint per slice of 50 (users, purchases), then the final ones
    assert Counter(name for name, _ in out["checkpoints"])["users"] >= 200 // 50


@pytest.mark.integration
def test_faker_incremental_read_with_state(faker_executable: Path, faker_first_read: dict):
    state = last_states(faker_first_read["checkpoints"])
    catalog = configured(FAKER_STREAMS, SyncMode.incremental)

    # always_updated=false: nothing changed since the state, so nothing is read, and the
    # state stays where it was
    out = read_faker(faker_config(faker_executable, always_updated=False), catalog, state)
    assert out["tables"] == {}
    assert out["totals"] == {"users": 0, "products": 0, "purchases": 0}
    assert last_states(out["checkpoints"]) == state

    # always_updated=true (faker's default): every record is "updated" again, with an
    # updated_at at or after the cursor in the state, so the same ids come back
    out = read_faker(faker_config(faker_executable), catalog, state)
    assert {name: t.num_rows for name, t in out["tables"].items()} == {
        "users": 200,
        "products": 100,
        "purchases": 200,
    }
    for name, table in out["tables"].items():
        cursor = datetime.fromisoformat(state[name]["updated_at"])
        first_ids = faker_first_read["tables"][name].column("id").to_pylist()
        assert sorted(table.column("id").to_pylist()) == sorted(first_ids)
        assert min(table.column("updated_at").to_pylist()) >= cursor
    new_state = last_states(out["checkpoints"])
    for name in FAKER_STREAMS:
        assert new_state[name]["updated_at"] >= state[name]["updated_at"]


@pytest.mark.integration
def test_install_connector_is_idempotent(faker_executable: Path):
    script = str(REPO_ROOT / "scripts" / "install_connector.sh")
    again = subprocess.run(
        ["bash", script, "source-faker", FAKER_VERSION], capture_output=True, text=True
    )
    assert again.returncode == 0
    assert again.stdout.strip() == str(faker_executable)
    assert "installing" not in again.stderr  # already there: nothing done
    bad = subprocess.run(["bash", script, "faker", "1.0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "must look like source-<name>" in bad.stderr


def test_discover_writes_placeholders_for_every_secret_of_the_connector(fake: Fake):
    """Secrets the connector's spec marks airbyte_secret, at any depth, never reach the file."""
    spec = {
        "type": "object",
        "properties": {
            "host": {"type": "string"},
            "credentials": {
                "oneOf": [
                    {"properties": {"method": {"const": "key"}, "api_key": {"type": "string"}}},
                    {
                        "properties": {
                            "method": {"const": "password"},
                            "user": {"type": "string"},
                            "pass": {"type": "string", "airbyte_secret": True},
                        }
                    },
                ]
            },
            "tunnels": {
                "type": "array",
                "items": {"properties": {"ssh_key": {"airbyte_secret": True}, "port": {}}},
            },
        },
    }
    fake.scenario(spec={"stdout": [{"type": "SPEC", "spec": {"connectionSpecification": spec}}]})
    config = {
        "command": [str(fake.executable)],
        "env": {"VENDOR_TOKEN": "t0ken", "LOG_LEVEL": "debug"},
        "config": {
            "host": "db.example",
            "credentials": {"method": "password", "user": "u", "pass": "hunter2"},
            "tunnels": [{"ssh_key": "-----BEGIN", "port": 22}],
        },
    }
    document = starter_file("crm", "external", config)
    written = document["connections"]["crm"]["config"]
    assert written["config"] == {
        "host": "db.example",
        "credentials": {
            "method": "password",
            "user": "u",
            "pass": "${CRM_CONFIG_CREDENTIALS_PASS}",
        },
        "tunnels": [{"ssh_key": "${CRM_CONFIG_TUNNELS_0_SSH_KEY}", "port": 22}],
    }
    assert written["env"] == {"VENDOR_TOKEN": "${CRM_ENV_VENDOR_TOKEN}", "LOG_LEVEL": "debug"}
    assert "hunter2" not in json.dumps(document) and "t0ken" not in json.dumps(document)
    assert document["connections"]["crm"]["streams"] == [{"name": "items"}]


def test_an_empty_full_refresh_keeps_bronze_and_raises_an_alert(fake: Fake, tmp_path: Path):
    """A full refresh that reads nothing where bronze had rows: kept, alerted, recorded;
    an explicit --full-refresh replaces it all the same."""
    (tmp_path / "c.yml").write_text(
        "connections:\n  vendor:\n    source: external\n"
        f"    config: {{command: ['{fake.executable}']}}\n"
        "    streams: [{name: items, sync_mode: full_refresh, destination_sync_mode: overwrite}]\n"
    )
    connection = load_connections(tmp_path / "c.yml", {}).connections["vendor"]
    lake = open_lake(str(tmp_path / "lake"))
    fake.scenario(read={"stdout": [record("items", {"id": i}) for i in range(1, 4)]})
    assert sync_connection(lake, "vendor", connection).streams[0].rows_written == 3

    fake.scenario(read={"stdout": []})
    shown = io.StringIO()
    result = run_sync(lake, "vendor", connection, None, False, Console(file=shown, width=200))
    assert result.status == "succeeded"
    assert "vendor.items: the full refresh read no record where bronze had 3; bronze kept" in (
        shown.getvalue()
    )
    assert result.streams[0].empty_refresh == {"previous_rows": 3, "bronze": "kept"}
    assert committed_rows(lake, committed_files(lake, "vendor", "items")) == 3
    run = lake.read_json(lake.path("_ops", "runs", "vendor", f"{result.sync_id}.json"))
    assert run["streams"][0]["empty_refresh"]["bronze"] == "kept"
    alerts = [lake.read_json(f.path) for f in lake.list_files(lake.path("_ops", "alerts"))]
    assert [a["kind"] for a in alerts] == ["empty_full_refresh"]
    assert alerts[0]["details"]["previous_rows"] == 3 and "vendor.items" in alerts[0]["title"]

    result = sync_connection(lake, "vendor", connection, full_refresh=True)
    assert result.streams[0].empty_refresh["bronze"] == "replaced by the empty read"
    assert committed_rows(lake, committed_files(lake, "vendor", "items")) == 0
    assert len(lake.list_files(lake.path("_ops", "alerts"))) == 2


def test_cast_column_casts_what_it_can_and_locates_the_rest():
    boolean = column_of("b", {"type": "boolean"})
    array, bad = cast_column(boolean, [True, 1, 0, "true", "FALSE", "yes", 2, None])
    assert array.to_pylist() == [True, True, False, True, False, None, None, None]
    assert bad == [5, 6]  # an original null is not a change
    integer = column_of("i", {"type": "integer"})
    array, bad = cast_column(integer, [1, "12", 2.0, 1.5, True, 2**70, "x", None])
    assert array.to_pylist() == [1, 12, 2, None, None, None, None, None]
    assert bad == [3, 4, 5, 6]
    day = column_of("d", {"type": "string", "format": "date"})
    array, bad = cast_column(day, ["2024-01-01", "2024-01-02T23:30:00+02:00", 5])
    assert array.to_pylist() == [date(2024, 1, 1), date(2024, 1, 2), None] and bad == [2]
    # a large batch with a few bad values: located exactly (halving, not value by value)
    values: list[Any] = list(range(10_000))
    for position in (0, 4_321, 9_999):
        values[position] = f"bad {position}"
    array, bad = cast_column(integer, values)
    assert bad == [0, 4_321, 9_999] and array.null_count == 3
    assert array[4_322].as_py() == 4_322


def test_bronze_written_from_a_schema_without_null_takes_the_nulls_typing_lets_through():
    """Bronze written before Airbyte typing has non-nullable columns where the connector's
    schema lacked "null"; the nulls typing now lets through relax them, none is lost."""
    before = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("amount", pa.float64(), nullable=False),
        ]
    )
    conformer = SchemaConformer("vendor.payments", before)
    columns = airbyte_columns(columns_of(TYPED_SCHEMA), ["id"])
    typed = type_records([{"id": 1, "amount": None}, {"id": 2, "amount": 2.5}], columns)
    good, rejects = conformer.conform(typed.batch)
    assert rejects is None and good.column("amount").to_pylist() == [None, 2.5]
    assert good.schema.field("amount").nullable and not good.schema.field("id").nullable
    assert ("became_nullable", "amount") in conformer.events


def test_errors_a_connector_logs_during_a_successful_read_are_warned(fake: Fake, caplog):
    skipped = {"type": "LOG", "log": {"level": "ERROR", "message": "Error parsing file b.jsonl"}}
    fake.scenario(read={"stdout": [record("items", {"id": 1}), skipped], "exit": 0})
    out = collect(ExternalSource().read(fake.config(), configured(["items"]), {}))
    assert out["tables"]["items"].num_rows == 1
    assert (
        "connector: the read succeeded but the connector logged 1 error(s); records it skipped "
        "are not in bronze nor in the DLQ; first: Error parsing file b.jsonl"
    ) in caplog.text


def test_a_dead_letter_of_the_bronze_checks_keeps_the_records_underscore_fields():
    """A record rejected after typing (a required field, a type against bronze) keeps every
    field it has, the connector's `_ab_source_file_*` included; only added columns go."""
    conformer = SchemaConformer("vendor.orders", None, required=["amount"])
    columns = airbyte_columns(columns_of(TYPED_SCHEMA), ["id"])
    row = {"id": 1, "code": "A", "_ab_source_file_url": "a.csv"}
    typed = type_records([row, {**row, "id": 2, "amount": 1.5}], columns)
    good, rejects = conformer.conform(typed.batch)
    assert good.column("id").to_pylist() == [2]
    dead = rejects.table.to_pylist()[0]
    assert dead["reason"] == "required field 'amount' is null or missing"
    raw = json.loads(dead["raw"])
    assert raw["_ab_source_file_url"] == "a.csv" and META_COLUMN not in raw


def test_schema_policy_fail_stops_the_sync_on_a_value_that_cannot_be_cast(
    fake: Fake, tmp_path: Path
):
    """Under `schema_policy: fail` an uncastable value stops the sync and commits nothing
    for the stream (the default nulls it, as Airbyte's destinations do); asking for both
    `fail` and `uncastable_values: nullify` is refused when the file is loaded."""
    stream = "{name: items, sync_mode: full_refresh, schema_policy: fail}"
    (tmp_path / "c.yml").write_text(
        "connections:\n  vendor:\n    source: external\n"
        f"    config: {{command: ['{fake.executable}']}}\n"
        f"    streams: [{stream}]\n"
    )
    connection = load_connections(tmp_path / "c.yml", {}).connections["vendor"]
    lake = open_lake(str(tmp_path / "lake"))
    rows = [record("items", {"id": 1, "price": 2.5}), record("items", {"id": 2, "price": "n/a"})]
    fake.scenario(read={"stdout": rows})
    with pytest.raises(SchemaDriftError, match=r"price.*n/a.*schema_policy: fail"):
        sync_connection(lake, "vendor", connection)
    assert committed_files(lake, "vendor", "items") == []

    (tmp_path / "c.yml").write_text(
        (tmp_path / "c.yml").read_text().replace("fail}", "fail, uncastable_values: nullify}")
    )
    with pytest.raises(ConnectionsError, match="uncastable_values nullify"):
        load_connections(tmp_path / "c.yml", {})
