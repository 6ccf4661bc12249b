"""Any Airbyte-protocol source executable (a published Airbyte Python connector, our own
`python -m ingestion.sources.<name>`, ...) as a source.

spec, check and discover run the executable and parse its messages. read runs `discover`
for the JSON schemas of the configured streams (converted to Arrow schemas, see
`ingestion.json_schema`), writes the configured catalog and the state, runs `read` and
parses its stdout line by line: records are buffered per stream and converted to Arrow a
batch at a time; each STATE message flushes the records before it and becomes a
Checkpoint. The connector's config is written to a private file (mode 0600) that is
removed afterwards.

Records are typed as Airbyte's destinations type them (`ingestion.airbyte_typing`): cast
where they can be, nulled and listed in `_airbyte_meta` where they cannot (or sent to the
DLQ: the stream's `uncastable_values`). A dead letter keeps the record's `data` exactly as
the connector wrote it (`ingestion.sources.raw_record`). Only incremental streams get their
state back: a full refresh starts from nothing, as in Airbyte.

State: a STREAM state is the stream's state as is. A GLOBAL or LEGACY state (one state
for all streams, e.g. CDC connectors) is kept whole under the reserved key
`_airbyte_state` of every stream's state, with a sequence number, and passed back as it
came; when the streams' copies differ (a sync stopped between their checkpoints), the
oldest is passed back, so no stream skips records it has not committed.

    python -m ingestion.sources.external read --config c.json --catalog cat.json
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
from airbyte_protocol.models import (
    AirbyteCatalog,
    AirbyteMessage,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    ConnectorSpecification,
    Status,
    SyncMode,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingestion.airbyte_typing import (
    UncastablePolicy,
    airbyte_columns,
    type_records,
    typed_schema,
)
from ingestion.json_schema import Column, columns_of, json_text
from ingestion.protocol import (
    Checkpoint,
    ReadEvent,
    Records,
    Rejected,
    Rejects,
    Source,
    SourceError,
    SourceTotals,
    SourceUnavailableError,
)
from ingestion.sources.raw_record import record_data_text

log = logging.getLogger(__name__)
# what a shell or a container runtime reports for a child killed by SIGKILL or SIGTERM
KILLED_EXIT_CODES = (128 + 9, 128 + 15)

SHARED_STATE_KEY = "_airbyte_state"  # a GLOBAL or LEGACY state, kept under every stream
STDERR_TAIL_LINES = 20
LOG_LEVELS = {
    "FATAL": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "TRACE": logging.DEBUG,
}


class ExternalStreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    uncastable_values: UncastablePolicy = Field(
        default="nullify",
        description="a value that cannot be cast to its field's type: `nullify` nulls it "
        "and lists it in the row's _airbyte_meta (as Airbyte's destinations do), `dlq` "
        "sends the whole record to the DLQ",
    )


class ExternalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: list[str] = Field(
        min_length=1,
        description="the connector executable and any leading arguments, e.g. "
        "[.cache/connectors/source-faker/bin/source-faker]; relative paths resolve "
        "against the current directory",
    )
    config: dict[str, Any] = Field(
        default_factory=dict, description="the connector's own config (may hold secrets)"
    )
    batch_records: int = Field(default=10_000, gt=0)
    timeout_seconds: float = Field(default=120, gt=0, description="for spec, check, discover")
    read_idle_timeout_seconds: float = Field(
        default=900,
        gt=0,
        description="a read whose connector writes nothing on stdout for this long is stopped "
        "(a connector that hangs, e.g. a deadlocked worker pool, fails instead of blocking)",
    )
    env: dict[str, str] = Field(default_factory=dict)
    streams: list[ExternalStreamOptions] = Field(default_factory=list)

    @field_validator("command")
    @classmethod
    def _executable(cls, value: list[str]) -> list[str]:
        program = value[0]
        if os.sep in program or (os.altsep and os.altsep in program):
            path = Path(program).expanduser().absolute()
            if not path.exists():
                raise ValueError(f"connector executable {program} does not exist ({path})")
            if not path.is_file() or not os.access(path, os.X_OK):
                raise ValueError(f"connector executable {program} is not an executable file")
            return [str(path), *value[1:]]
        found = shutil.which(program)
        if found is None:
            raise ValueError(f"connector executable {program} is not on PATH")
        return [found, *value[1:]]


def connector_label(command: list[str]) -> str:
    """A short name for messages: the module of `python -m x`, else the program's name."""
    if "-m" in command[:-1]:
        return command[command.index("-m") + 1]
    return Path(command[0]).name


# -- running the executable ---------------------------------------------------------------
@contextlib.contextmanager
def _private_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="external-source-"))  # mode 0700
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _write_private(path: Path, document: Any) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(orjson.dumps(document))
    return str(path)


def _kill(process: subprocess.Popen) -> None:
    """Stop the connector and anything it started (it runs in its own process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


class _IdleWatchdog:
    """Kills the connector's process group when its stdout stays silent for `timeout` s."""

    def __init__(self, process: subprocess.Popen, timeout: float) -> None:
        self.process, self.timeout = process, timeout
        self.fired = False
        self._last = time.monotonic()
        self._done = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def touch(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        while not self._done.wait(min(5.0, self.timeout / 4)):
            if time.monotonic() - self._last > self.timeout and self.process.poll() is None:
                self.fired = True
                _kill(self.process)
                return


def _reap_group(process: subprocess.Popen) -> None:
    """Children the connector left behind (worker processes) go with it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _tail(lines: list[str] | deque[str]) -> str:
    text = "\n".join(line.rstrip() for line in lines if line.strip())
    return f"; last lines of stderr:\n{text}" if text else "; nothing on stderr"


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip("\r\n")


@dataclass
class _Buffer:
    """A stream's records since its last flush."""

    columns: list[Column]
    schema: pa.Schema
    policy: UncastablePolicy = "nullify"
    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # the lines as the connector wrote them
    metas: dict[int, Any] = field(default_factory=dict)  # row: the record's own meta
    # records rejected before conversion (data not an object): (raw, reason, line)
    rejects: list[tuple[str, str, int]] = field(default_factory=list)
    received: int = 0
    nulled: int = 0
    # properties the records have but the schema does not declare (left out), warned once
    undeclared: set[str] = field(default_factory=set)


class ExternalSource(Source[ExternalConfig]):
    name = "external"
    config_model = ExternalConfig
    source_defined_cursor = True  # the connector knows its cursors (or takes ours)

    # -- spec / check / discover ------------------------------------------------------------
    def spec(self, config: ExternalConfig | None = None) -> ConnectorSpecification:
        """Without a config, this source's own spec; with one, the connector's."""
        if config is None:
            return super().spec()
        message = self._one(config, ["spec"], "SPEC")
        return message.spec

    def check(self, config: ExternalConfig) -> None:
        message = self._one(config, ["check", "--config", "{config}"], "CONNECTION_STATUS")
        status = message.connectionStatus
        if status.status != Status.SUCCEEDED:
            raise SourceError(
                f"{connector_label(config.command)}: check failed: "
                f"{status.message or 'no reason given'}"
            )

    def discover(self, config: ExternalConfig) -> AirbyteCatalog:
        message = self._one(config, ["discover", "--config", "{config}"], "CATALOG")
        return message.catalog

    def _start(self, config: ExternalConfig, args: list[str]) -> subprocess.Popen:
        """The connector in its own process group (so that it and whatever it starts can
        be stopped together), with the config's extra environment variables."""
        try:
            return subprocess.Popen(
                [*config.command, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, **config.env},
                start_new_session=True,
            )
        except OSError as exc:
            raise SourceError(
                f"{connector_label(config.command)}: cannot run {config.command[0]}: "
                f"{exc.strerror or exc}"
            ) from exc

    def _one(self, config: ExternalConfig, args: list[str], wanted: str) -> AirbyteMessage:
        """Run a command that answers with one message of type `wanted`."""
        label = connector_label(config.command)
        command = args[0]
        with _private_dir() as tmp:
            if "{config}" in args:
                path = _write_private(tmp / "config.json", config.config)
                args = [path if a == "{config}" else a for a in args]
            process = self._start(config, args)
            try:
                stdout, stderr = process.communicate(timeout=config.timeout_seconds)
            except subprocess.TimeoutExpired as exc:
                _kill(process)
                process.communicate()
                raise SourceError(
                    f"{label}: {command} did not finish within {config.timeout_seconds:g} s "
                    "(timeout_seconds)"
                ) from exc
            finally:
                if process.poll() is None:
                    _kill(process)
                _reap_group(process)
        found: AirbyteMessage | None = None
        errors: list[str] = []
        for number, line in enumerate(stdout.splitlines(), 1):
            message = _parse_line(line, number, label)
            if message is None:
                continue
            kind = message.get("type")
            if kind == wanted and found is None:
                try:
                    found = AirbyteMessage.model_validate(message)
                except ValidationError as exc:
                    raise SourceError(
                        f"{label}: {command} answered an invalid {wanted} message: {exc}"
                    ) from exc
            elif kind == "LOG":
                _forward_log(label, message.get("log") or {})
            elif kind == "TRACE":
                error = _trace_error(label, message.get("trace") or {})
                if error:
                    errors.append(error)
        stderr_tail = list(_decode(line) for line in stderr.splitlines()[-STDERR_TAIL_LINES:])
        if found is not None and (wanted == "CONNECTION_STATUS" or process.returncode == 0):
            return found
        if errors:
            raise SourceError(f"{label}: {command} failed: {'; '.join(errors)}")
        if process.returncode != 0:
            raise SourceError(
                f"{label}: {command} exited with code {process.returncode}{_tail(stderr_tail)}"
            )
        raise SourceError(f"{label}: {command} printed no {wanted} message{_tail(stderr_tail)}")

    # -- read -------------------------------------------------------------------------------
    def read(
        self,
        config: ExternalConfig,
        catalog: ConfiguredAirbyteCatalog,
        state: Mapping[str, dict[str, Any]],
    ) -> Iterator[ReadEvent]:
        label = connector_label(config.command)
        configured = self._configured_catalog(config, catalog)
        policies = {s.name: s.uncastable_values for s in config.streams}
        buffers: dict[str, _Buffer] = {}
        for stream in configured.streams:
            key = [path[0] for path in stream.primary_key or [] if len(path) == 1]
            columns = airbyte_columns(columns_of(stream.stream.json_schema or {}), key)
            name = stream.stream.name
            buffers[name] = _Buffer(columns, typed_schema(columns), policies.get(name, "nullify"))
        # a full refresh never gets the state of a finished read back: the connector would
        # take it as "nothing left to read"
        state = {
            s.stream.name: state[s.stream.name]
            for s in configured.streams
            if s.sync_mode == SyncMode.incremental and state.get(s.stream.name)
        }
        last_state: dict[str, dict[str, Any]] = {
            name: dict(state.get(name) or {}) for name in buffers
        }
        sequence = max(
            (
                int(s[SHARED_STATE_KEY].get("seq", 0))
                for s in state.values()
                if isinstance(s, dict) and isinstance(s.get(SHARED_STATE_KEY), dict)
            ),
            default=0,
        )
        with _private_dir() as tmp:
            args = [
                "read",
                "--config",
                _write_private(tmp / "config.json", config.config),
                "--catalog",
                _write_private(
                    tmp / "catalog.json", configured.model_dump(mode="json", exclude_none=True)
                ),
            ]
            document = state_document(state, configured)
            if document is not None:
                args += ["--state", _write_private(tmp / "state.json", document)]
            process = self._start(config, args)
            stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
            drain = threading.Thread(
                target=_drain_stderr, args=(process.stderr, stderr_tail, label), daemon=True
            )
            drain.start()
            watchdog = _IdleWatchdog(process, config.read_idle_timeout_seconds)
            try:
                errors: list[str] = []
                fatal_logs: list[str] = []
                unknown: set[str] = set()
                assert process.stdout is not None
                for number, line in enumerate(process.stdout, 1):
                    watchdog.touch()
                    message = _parse_line(line, number, label)
                    if message is None:
                        continue
                    kind = message.get("type")
                    if kind == "RECORD":
                        record = message.get("record")
                        record = record if isinstance(record, dict) else {}
                        name = record.get("stream")
                        buffer = buffers.get(name) if isinstance(name, str) else None
                        if buffer is None:
                            if str(name) not in unknown:
                                unknown.add(str(name))
                                log.warning(
                                    "%s: records of stream %r, which is not configured, "
                                    "are ignored",
                                    label,
                                    name,
                                )
                            continue
                        buffer.received += 1
                        data = record.get("data")
                        if isinstance(data, dict):
                            if record.get("meta"):
                                buffer.metas[len(buffer.rows)] = record["meta"]
                            buffer.rows.append(data)
                            buffer.lines.append(number)
                            buffer.raw.append(line)
                            if len(buffer.rows) >= config.batch_records:
                                yield from _flush(name, buffer, label)
                        else:
                            raw = record_data_text(line) or json_text(data)
                            reason = "the record's data is not a JSON object"
                            buffer.rejects.append((raw, reason, number))
                    elif kind == "STATE":
                        events, sequence = _on_state(
                            message.get("state"), buffers, last_state, sequence, label
                        )
                        yield from events
                    elif kind == "LOG":
                        entry = message.get("log") or {}
                        _forward_log(label, entry)
                        if str(entry.get("level", "")).upper() in ("FATAL", "ERROR"):
                            fatal_logs.append(str(entry.get("message", "")).split("\n")[0])
                    elif kind == "TRACE":
                        error = _trace_error(label, message.get("trace") or {})
                        if error:
                            errors.append(error)
                    elif kind == "CONTROL":
                        log.warning(
                            "%s: the connector asked to update its config (CONTROL message); "
                            "update the connection's config yourself if it must persist",
                            label,
                        )
                    else:
                        log.debug("%s: stdout line %d: %s message ignored", label, number, kind)
                process.wait()
                _reap_group(process)  # workers it left behind would hold stderr open
                drain.join(timeout=10)
                if watchdog.fired:
                    raise SourceError(
                        f"{label}: the connector wrote nothing for "
                        f"{config.read_idle_timeout_seconds:g} s and was stopped "
                        "(read_idle_timeout_seconds); nothing of this read was committed"
                    )
                if errors or process.returncode != 0:
                    # killed by a signal (OOM killer, an operator): a failed sync, not bad
                    # configuration; a rerun resumes from the last committed state
                    killed = process.returncode < 0 or process.returncode in KILLED_EXIT_CODES
                    raise (SourceUnavailableError if killed else SourceError)(
                        _failure(label, process.returncode, errors, fatal_logs, stderr_tail)
                    )
                if fatal_logs:
                    # e.g. a file-based connector skipping a file it cannot parse: what it
                    # never emitted is in neither bronze nor the DLQ
                    log.warning(
                        "%s: the read succeeded but the connector logged %d error(s); "
                        "records it skipped are not in bronze nor in the DLQ; first: %s",
                        label,
                        len(fatal_logs),
                        fatal_logs[0],
                    )
                for name, buffer in buffers.items():
                    yield from _flush(name, buffer, label)
                    if buffer.nulled:
                        log.warning(
                            "%s: stream %r: %d values could not be cast to their field's "
                            "type and were nulled (listed in _airbyte_meta.changes)",
                            label,
                            name,
                            buffer.nulled,
                        )
                    yield SourceTotals(name, rows=buffer.received)
                    yield Checkpoint(name, last_state[name])
            finally:
                watchdog.stop()
                if process.poll() is None:
                    _kill(process)
                _reap_group(process)
                drain.join(timeout=10)
                for pipe in (process.stdout, process.stderr):
                    if pipe is not None:
                        pipe.close()

    def _configured_catalog(
        self, config: ExternalConfig, catalog: ConfiguredAirbyteCatalog
    ) -> ConfiguredAirbyteCatalog:
        """Our configured streams over the connector's discovered ones (their full JSON
        schemas), with our sync modes, cursors and keys (the connector's defaults when we
        have none)."""
        label = connector_label(config.command)
        discovered: dict[str, AirbyteStream] = {s.name: s for s in self.discover(config).streams}
        streams = []
        for ours in catalog.streams:
            name = ours.stream.name
            theirs = discovered.get(name)
            if theirs is None:
                raise SourceError(
                    f"{label}: stream {name!r} is not in the connector's catalog "
                    f"(it offers {', '.join(sorted(discovered)) or 'no streams'})"
                )
            modes = theirs.supported_sync_modes or []
            if ours.sync_mode == SyncMode.incremental and SyncMode.incremental not in modes:
                raise SourceError(
                    f"{label}: stream {name!r} does not support incremental reads "
                    f"(it supports {', '.join(m.value for m in modes)})"
                )
            incremental = ours.sync_mode == SyncMode.incremental
            cursor = ours.cursor_field or (theirs.default_cursor_field if incremental else None)
            streams.append(
                ConfiguredAirbyteStream(
                    stream=theirs,
                    sync_mode=ours.sync_mode,
                    destination_sync_mode=ours.destination_sync_mode,
                    cursor_field=cursor or None,
                    primary_key=ours.primary_key or theirs.source_defined_primary_key,
                )
            )
        return ConfiguredAirbyteCatalog(streams=streams)


# -- messages -----------------------------------------------------------------------------
def _parse_line(line: bytes, number: int, label: str) -> dict[str, Any] | None:
    """A protocol message, or None for blank lines and stray text (logged, ignored)."""
    if not line.strip():
        return None
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        message = None
    if not isinstance(message, dict) or "type" not in message:
        text = _decode(line)
        log.info(
            "%s: stdout line %d is not a protocol message, ignored: %.200s", label, number, text
        )
        return None
    return message


def _forward_log(label: str, entry: dict[str, Any]) -> None:
    level = LOG_LEVELS.get(str(entry.get("level", "INFO")).upper(), logging.INFO)
    log.log(level, "%s: %s", label, entry.get("message", ""))
    if entry.get("stack_trace"):
        log.debug("%s: %s", label, entry["stack_trace"])


def _trace_error(label: str, trace: dict[str, Any]) -> str | None:
    """The error message of a TRACE error (None for other traces, which are logged)."""
    kind = trace.get("type")
    if kind == "ERROR":
        error = trace.get("error") or {}
        text = str(error.get("message") or error.get("internal_message") or "unknown error")
        log.error("%s: %s", label, text)
        if error.get("internal_message"):
            log.debug("%s: %s", label, error["internal_message"])
        if error.get("stack_trace"):
            log.debug("%s: %s", label, error["stack_trace"])
        return text
    if kind == "STREAM_STATUS":
        status = trace.get("stream_status") or {}
        name = (status.get("stream_descriptor") or {}).get("name")
        level = logging.WARNING if status.get("status") == "INCOMPLETE" else logging.DEBUG
        log.log(level, "%s: stream %s is %s", label, name, status.get("status"))
    else:
        log.debug("%s: %s trace: %s", label, kind, trace)
    return None


def _drain_stderr(pipe: IO[bytes], tail: deque[str], label: str) -> None:
    """Read stderr as it comes (a full pipe would block the connector)."""
    with contextlib.suppress(ValueError, OSError):
        for line in pipe:
            text = _decode(line)
            tail.append(text)
            log.debug("%s stderr: %s", label, text)


def _failure(
    label: str, code: int | None, errors: list[str], fatal_logs: list[str], tail: deque[str]
) -> str:
    if errors:
        text = f"{label}: read failed: {'; '.join(errors)}"
        return text if code == 0 else f"{text} (exit code {code})"
    text = f"{label}: read exited with code {code}"
    if fatal_logs:
        text += f"; last error logged: {fatal_logs[-1]}"
    return text + _tail(list(tail))


def _flush(name: str, buffer: _Buffer, label: str) -> Iterator[ReadEvent]:
    """The stream's buffered records as one batch (and the ones that do not fit, rejected)."""
    rejects = list(buffer.rejects)
    if buffer.rows:
        keys = set().union(*buffer.rows) - set(buffer.schema.names) - buffer.undeclared
        if keys:
            buffer.undeclared |= keys
            log.warning(
                "%s: stream %r: records have properties the stream's JSON schema does not "
                "declare, left out: %s",
                label,
                name,
                ", ".join(sorted(keys)),
            )
        typed = type_records(buffer.rows, buffer.columns, buffer.policy, buffer.metas)
        buffer.nulled += typed.nulled
        unfit = []
        for index, reason in typed.rejected.items():
            raw = record_data_text(buffer.raw[index]) or json_text(buffer.rows[index])
            unfit.append((raw, reason, buffer.lines[index]))
        if typed.batch.num_rows:
            yield Records(name, typed.batch)
        # records that parsed but do not fit the stream's schema follow its schema_policy
        yield from _rejected(name, unfit, schema_violation=True)
    yield from _rejected(name, rejects, schema_violation=False)
    buffer.rows, buffer.lines, buffer.rejects, buffer.raw, buffer.metas = [], [], [], [], {}


def _rejected(
    name: str, rejects: list[tuple[str, str, int]], schema_violation: bool
) -> Iterator[Rejected]:
    if rejects:
        rejects.sort(key=lambda r: r[2])
        yield Rejected(
            name,
            Rejects(
                [r[0] for r in rejects],
                [r[1] for r in rejects],
                "stdout",
                [r[2] for r in rejects],
                schema_violation=schema_violation,
            ),
        )


def _on_state(
    state: Any,
    buffers: dict[str, _Buffer],
    last_state: dict[str, dict[str, Any]],
    sequence: int,
    label: str,
) -> tuple[list[ReadEvent], int]:
    """Checkpoints for a STATE message, after the records before it; the new sequence."""
    events: list[ReadEvent] = []
    if not isinstance(state, dict):
        log.warning("%s: a STATE message without a state object, ignored", label)
        return events, sequence
    kind = state.get("type") or ("LEGACY" if "data" in state else None)
    if kind == "STREAM":
        stream = state.get("stream") or {}
        name = (stream.get("stream_descriptor") or {}).get("name")
        if name not in buffers:
            log.debug("%s: state of stream %r, which is not configured, ignored", label, name)
            return events, sequence
        blob = stream.get("stream_state") or {}
        events.extend(_flush(name, buffers[name], label))
        last_state[name] = blob
        events.append(Checkpoint(name, blob))
        return events, sequence
    if kind in ("GLOBAL", "LEGACY"):
        sequence += 1
        shared = (
            {"type": "GLOBAL", "global": state.get("global") or {}}
            if kind == "GLOBAL"
            else {"type": "LEGACY", "data": state.get("data") or {}}
        )
        for name, buffer in buffers.items():
            events.extend(_flush(name, buffer, label))
        for name in buffers:
            blob = {SHARED_STATE_KEY: {"seq": sequence, "message": shared}}
            last_state[name] = blob
            events.append(Checkpoint(name, blob))
        return events, sequence
    log.warning("%s: a STATE message of unknown type %r, ignored", label, kind)
    return events, sequence


def state_document(state: Mapping[str, dict[str, Any]], catalog: ConfiguredAirbyteCatalog) -> Any:
    """The connector's state file for our per-stream states (None: no state yet): the
    shared GLOBAL/LEGACY state when there is one (the oldest copy), else a STREAM state
    message per stream."""
    shared = [
        s[SHARED_STATE_KEY]
        for s in state.values()
        if isinstance(s, dict) and isinstance(s.get(SHARED_STATE_KEY), dict)
    ]
    if shared:
        oldest = min(shared, key=lambda s: int(s.get("seq", 0)))
        message = oldest["message"]
        return message.get("data") if message.get("type") == "LEGACY" else [message]
    namespaces = {s.stream.name: s.stream.namespace for s in catalog.streams}
    messages = []
    for name, blob in state.items():
        if not blob:
            continue
        descriptor: dict[str, Any] = {"name": name}
        if namespaces.get(name):
            descriptor["namespace"] = namespaces[name]
        messages.append(
            {"type": "STREAM", "stream": {"stream_descriptor": descriptor, "stream_state": blob}}
        )
    return messages or None


if __name__ == "__main__":
    from ingestion.airbyte_cli import run

    sys.exit(run(ExternalSource()))
