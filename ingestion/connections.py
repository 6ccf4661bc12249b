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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConnectionsError(ValueError):
    """The connections file is missing, malformed or invalid."""


def _identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValueError(f"{value!r} is not a valid name: use lowercase letters, digits and _")
    return value


class StreamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    sync_mode: Literal["full_refresh"] = "full_refresh"
    primary_key: list[str] = Field(default_factory=list)
    # sql sources: the table to read (default: the stream name)
    table: str | None = None
    # files sources: which files, and how to parse them
    pattern: str | None = None
    format: Literal["jsonl", "csv"] | None = None

    _check_name = field_validator("name")(classmethod(lambda cls, v: _identifier(v)))

    @field_validator("table", "primary_key")
    @classmethod
    def _check_identifiers(cls, value):
        if value is None:
            return value
        for item in value if isinstance(value, list) else [value]:
            _identifier(item)
        return value


class SqlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dsn: str
    batch_rows: int = Field(default=100_000, gt=0)


class FilesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str


class Connection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["sql", "files"]
    config: dict
    streams: list[StreamConfig] = Field(min_length=1)
    schedule: str | None = None

    def sql_config(self) -> SqlConfig:
        return SqlConfig.model_validate(self.config)

    def files_config(self) -> FilesConfig:
        return FilesConfig.model_validate(self.config)


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
    try:
        if connection.source == "sql":
            connection.sql_config()
        else:
            connection.files_config()
            for i, stream in enumerate(connection.streams):
                if not stream.pattern or not stream.format:
                    raise ConnectionsError(
                        f"connections.{name}.streams[{i}]: a files stream needs `pattern` and "
                        "`format` (jsonl or csv)"
                    )
    except ValidationError as exc:
        raise ValidationError.from_exception_data(
            exc.title,
            [{**e, "loc": ("connections", name, "config", *e["loc"])} for e in exc.errors()],
        ) from exc


def _describe(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid connections file"]
    for error in exc.errors():
        key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in error["loc"])
        key = key.replace(".[", "[")
        got = error.get("input")
        got_text = "" if isinstance(got, dict | list) else f" (got {got!r})"
        lines.append(f"  {key}: {error['msg']}{got_text}")
    return "\n".join(lines)
