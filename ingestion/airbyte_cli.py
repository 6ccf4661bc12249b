"""Run a source as an Airbyte connector: `spec`, `check`, `discover`, `read` on the command
line, Airbyte protocol messages (one JSON object per line) on stdout.

    python -m ingestion.sources.sql spec
    python -m ingestion.sources.sql check --config config.json
    python -m ingestion.sources.sql discover --config config.json
    python -m ingestion.sources.sql read --config config.json --catalog catalog.json \
        [--state state.json]

This is the slow path by nature (a JSON object per record, as the protocol wants); the
engine calls the same source in-process and keeps Arrow batches end to end.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import orjson
from airbyte_protocol.models import (
    AirbyteConnectionStatus,
    AirbyteErrorTraceMessage,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    AirbyteTraceMessage,
    ConfiguredAirbyteCatalog,
    Level,
    Status,
    StreamDescriptor,
    TraceType,
    Type,
)
from pydantic import ValidationError

from ingestion.protocol import Checkpoint, Records, Rejected, Source, SourceError, SourceTotals


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)  # JSON numbers; the catalog declares the column a number
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def _dump(message: AirbyteMessage) -> bytes:
    return message.model_dump_json(exclude_none=True, by_alias=True).encode() + b"\n"


def record_lines(stream: str, data, emitted_at: int) -> Iterator[bytes]:
    """One RECORD message per row, serialized without building pydantic objects per row
    (the shape is AirbyteRecordMessage's; the tests validate it against the model)."""
    for row in data.to_pylist():
        yield (
            orjson.dumps(
                {
                    "type": "RECORD",
                    "record": {"stream": stream, "data": row, "emitted_at": emitted_at},
                },
                default=_json_default,
                option=orjson.OPT_PASSTHROUGH_DATETIME,
            )
            + b"\n"
        )


def state_message(stream: str, state: dict[str, Any]) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.STATE,
        state=AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(
                stream_descriptor=StreamDescriptor(name=stream), stream_state=state
            ),
        ),
    )


def log_message(level: Level, text: str) -> AirbyteMessage:
    return AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=level, message=text))


def error_message(text: str, failure_type: str = "system_error") -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.TRACE,
        trace=AirbyteTraceMessage(
            type=TraceType.ERROR,
            emitted_at=time.time() * 1000,
            error=AirbyteErrorTraceMessage(message=text, failure_type=failure_type),
        ),
    )


def parse_state(document: Any) -> dict[str, dict[str, Any]]:
    """Per-stream state from an Airbyte state file (a list of STREAM state messages, as
    Airbyte passes it) or from a plain {stream: state} mapping."""
    if isinstance(document, dict):
        return {str(k): dict(v or {}) for k, v in document.items()}
    states: dict[str, dict[str, Any]] = {}
    for item in document or []:
        message = AirbyteStateMessage.model_validate(item)
        stream_states = [message.stream] if message.stream is not None else []
        if message.global_ is not None:  # our sources keep per-stream state inside it
            stream_states += message.global_.stream_states
        for stream_state in stream_states:
            blob = stream_state.stream_state
            states[stream_state.stream_descriptor.name] = (
                blob.model_dump() if blob is not None else {}
            )
    return states


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourceError(f"cannot read the {what} file {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise SourceError(f"the {what} file {path} is not valid JSON: {exc}") from exc


class ConfigError(SourceError):
    """The config, catalog or state given on the command line is unusable."""


def _validated(model, document: Any, path: str, what: str):
    try:
        return model(document)
    except (ValidationError, TypeError, ValueError) as exc:
        raise ConfigError(f"invalid {what} in {path}: {exc}") from exc


def _config(source: Source, path: str):
    raw = _read_json(path, "config")
    try:
        return source.parse_config(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid config in {path}: {problems}") from exc


def _parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m ingestion.sources.{name}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("spec")
    for command in ("check", "discover"):
        commands.add_parser(command).add_argument("--config", required=True)
    read = commands.add_parser("read")
    read.add_argument("--config", required=True)
    read.add_argument("--catalog", required=True)
    read.add_argument("--state")
    return parser


def run(source: Source, argv: list[str] | None = None, out: IO[bytes] | None = None) -> int:
    """The connector's entry point; returns the process exit code."""
    args = _parser(source.name).parse_args(argv)
    out = out or sys.stdout.buffer
    try:
        if args.command == "spec":
            out.write(_dump(AirbyteMessage(type=Type.SPEC, spec=source.spec())))
        elif args.command == "check":
            status = _check(source, args.config)
            out.write(_dump(AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=status)))
        elif args.command == "discover":
            catalog = source.discover(_config(source, args.config))
            out.write(_dump(AirbyteMessage(type=Type.CATALOG, catalog=catalog)))
        else:
            _read(source, args, out)
    except ConfigError as exc:
        out.write(_dump(error_message(str(exc), "config_error")))
        out.flush()
        return 1
    except SourceError as exc:
        out.write(_dump(error_message(str(exc))))
        out.flush()
        return 1
    out.flush()
    return 0


def _check(source: Source, config_path: str) -> AirbyteConnectionStatus:
    try:
        source.check(_config(source, config_path))
    except SourceError as exc:
        return AirbyteConnectionStatus(status=Status.FAILED, message=str(exc))
    return AirbyteConnectionStatus(status=Status.SUCCEEDED)


def _read(source: Source, args: argparse.Namespace, out: IO[bytes]) -> None:
    config = _config(source, args.config)
    catalog = _validated(
        ConfiguredAirbyteCatalog.model_validate,
        _read_json(args.catalog, "catalog"),
        args.catalog,
        "catalog",
    )
    state = (
        _validated(parse_state, _read_json(args.state, "state"), args.state, "state")
        if args.state
        else {}
    )
    for event in source.read(config, catalog, state):
        if isinstance(event, Records):
            emitted_at = int(time.time() * 1000)
            out.writelines(record_lines(event.stream, event.data, emitted_at))
        elif isinstance(event, Checkpoint):
            out.write(_dump(state_message(event.stream, event.state)))
        elif isinstance(event, Rejected):
            for row in event.rejects.table.to_pylist():
                text = f"{event.stream}: rejected record at {row['location']}"
                if row["line_number"] is not None:
                    text += f" line {row['line_number']}"
                out.write(_dump(log_message(Level.WARN, f"{text}: {row['reason']}")))
        elif isinstance(event, SourceTotals):
            text = f"{event.stream}: the source counts {event.rows} rows over the range read"
            out.write(_dump(log_message(Level.INFO, text)))


__all__ = ["parse_state", "record_lines", "run", "state_message"]
