"""The connections file: which sources feed the lake, with which streams and modes.

YAML with `${VAR}` / `${VAR:-default}` placeholders resolved from the environment, so
secrets never live in the file. Errors name the file, the key and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# names the lakehouse creates (connections, streams: folders and tables downstream)
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# names of a source's columns that configuration refers to (they reach SQL and Parquet)
COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConnectionsError(ValueError):
    """The connections file is missing, malformed or invalid."""


def _identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use lowercase letters, digits and _, starting "
            "with a letter, at most 63 characters"
        )
    return value


def column_name(value: str) -> str:
    if not COLUMN_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid column name: use letters, digits and _, starting with "
            "a letter or _, at most 63 characters"
        )
    return value


SyncMode = Literal["full_refresh", "incremental"]
DestinationSyncMode = Literal["overwrite", "append", "append_dedup"]
_CRON = re.compile(r"^\S+(\s+\S+){4}$")


class StreamConfig(BaseModel):
    """A stream of a connection. Keys not listed here are the source's own stream options
    (a table name, a file pattern, an API path): they are validated by the source."""

    model_config = ConfigDict(extra="allow")

    name: str
    sync_mode: SyncMode = "full_refresh"
    # default: overwrite for full_refresh, append for incremental
    destination_sync_mode: DestinationSyncMode | None = None
    cursor_field: str | None = None
    primary_key: list[str] = Field(default_factory=list)
    # bronze partitioning: a folder per day (or month) of extraction
    partition_by: Literal["extracted_date", "extracted_month"] = "extracted_date"
    # a type change or a missing required field: send the record to the DLQ, or fail
    schema_policy: Literal["dlq", "fail"] = "dlq"
    # fields every record must have (the primary key and cursor always are)
    required: list[str] = Field(default_factory=list)
    schedule: str | None = None

    _check_name = field_validator("name")(classmethod(lambda cls, v: _identifier(v)))

    @field_validator("cursor_field", "primary_key", "required")
    @classmethod
    def _check_identifiers(cls, value):
        if value is None:
            return value
        for item in value if isinstance(value, list) else [value]:
            _identifier(item)
        return value

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        if value is not None and not _CRON.match(value.strip()):
            raise ValueError(f"{value!r} is not a cron expression of five fields")
        return value

    @model_validator(mode="after")
    def _check_modes(self) -> StreamConfig:
        if self.destination_sync_mode is None:
            self.destination_sync_mode = (
                "overwrite" if self.sync_mode == "full_refresh" else "append"
            )
        if self.sync_mode == "incremental" and self.destination_sync_mode == "overwrite":
            raise ValueError("an incremental stream appends: use append or append_dedup")
        if self.destination_sync_mode == "append_dedup" and not self.primary_key:
            raise ValueError("append_dedup needs a primary_key to deduplicate on")
        return self

    @property
    def options(self) -> dict[str, Any]:
        """The source's own options for this stream."""
        return {"name": self.name, **(self.model_extra or {})}

    @property
    def required_fields(self) -> list[str]:
        fields = [*self.primary_key, *self.required]
        if self.cursor_field:
            fields.append(self.cursor_field)
        return list(dict.fromkeys(fields))


class Connection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    config: dict
    streams: list[StreamConfig] = Field(min_length=1)
    schedule: str | None = None

    _check_schedule = field_validator("schedule")(StreamConfig._check_schedule.__func__)

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        from ingestion.sources import SOURCES

        if value not in SOURCES:
            raise ValueError(f"unknown source {value!r}: expected one of {', '.join(SOURCES)}")
        return value

    @model_validator(mode="after")
    def _external_policies_agree(self) -> Connection:
        """An Airbyte connector's values that cannot be cast are nulled by default (as
        Airbyte's destinations do); under `schema_policy: fail` they must stop the sync
        instead, so they are rejected as schema violations (`uncastable_values: dlq`)."""
        if self.source != "external":
            return self
        for stream in self.streams:
            extra = stream.model_extra if stream.model_extra is not None else {}
            if stream.schema_policy != "fail":
                continue
            if extra.get("uncastable_values", "dlq") != "dlq":
                raise ValueError(
                    f"stream {stream.name}: schema_policy fail stops the sync on a value that "
                    "cannot be cast; uncastable_values nullify would null it instead: "
                    "drop one of the two"
                )
            extra["uncastable_values"] = "dlq"
        return self

    def source_config(self) -> dict[str, Any]:
        """The config the source gets: the connection's config plus each stream's options
        (as in an Airbyte source's own config file)."""
        return {**self.config, "streams": [s.options for s in self.streams]}

    def stream(self, name: str) -> StreamConfig:
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise KeyError(name)


class ConnectionsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connections: dict[str, Connection] = Field(min_length=1)

    @field_validator("connections")
    @classmethod
    def _check_names(cls, value: dict[str, Connection]) -> dict[str, Connection]:
        for name in value:
            _identifier(name)
        return value


def interpolate(value: Any, env: Mapping[str, str], where: str) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string value (not in keys or comments);
    an unset variable without a default is an error naming the key."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if env.get(name):
            return env[name]
        if default is not None:
            return default
        raise ConnectionsError(f"{where}: environment variable {name} is not set")

    return _PLACEHOLDER.sub(replace, value)


def load_connections(path: str | Path, env: Mapping[str, str]) -> ConnectionsFile:
    path = Path(path)
    if not path.exists():
        raise ConnectionsError(f"{path}: connections file not found (set CONNECTIONS_FILE)")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConnectionsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ConnectionsError(f"{path}: expected a mapping with a `connections` key")
    document = interpolate(document, env, str(path))
    try:
        parsed = ConnectionsFile.model_validate(document)
        for name, connection in parsed.connections.items():
            _validate_source_config(name, connection)
        return parsed
    except ValidationError as exc:
        raise ConnectionsError(_describe(path, exc)) from exc
    except ConnectionsError as exc:
        raise ConnectionsError(f"{path}: {exc}") from exc


def _validate_source_config(name: str, connection: Connection) -> None:
    """Validate the config with the source's own model; errors point back at the file's
    keys (`config.<key>`, or `streams[i].<key>` for a stream option)."""
    from ingestion.sources import get_source

    source = get_source(connection.source)
    try:
        source.parse_config(connection.source_config())
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            if loc[:1] == ("streams",):
                loc = ("connections", name, *loc)
            else:
                loc = ("connections", name, "config", *loc)
            errors.append({**error, "loc": loc})
        raise ValidationError.from_exception_data(exc.title, errors) from exc
    for i, stream in enumerate(connection.streams):
        where = f"connections.{name}.streams[{i}]"
        if (
            stream.sync_mode == "incremental"
            and not stream.cursor_field
            and not source.source_defined_cursor
        ):
            raise ConnectionsError(
                f"{where}.cursor_field: an incremental {connection.source} stream needs a "
                "cursor_field (the column that grows with each change, e.g. updated_at)"
            )
        if stream.sync_mode == "incremental" and not source.supports_incremental:
            raise ConnectionsError(
                f"{where}.sync_mode: the {connection.source} source only does full_refresh"
            )


def _describe(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid connections file"]
    for error in exc.errors():
        key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in error["loc"])
        key = key.replace(".[", "[")
        got = error.get("input")
        got_text = "" if isinstance(got, dict | list) else f" (got {got!r})"
        lines.append(f"  {key}: {error['msg']}{got_text}")
    return "\n".join(lines)
