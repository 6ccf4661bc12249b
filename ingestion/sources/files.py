"""Landing-zone files (JSON lines, CSV, Parquet) on a local folder or in a bucket.

Each file is parsed by Arrow's own readers. Only a file that fails as a whole is looked
at more closely: lines that are not valid UTF-8 or not a JSON object, and JSON lines longer
than `max_record_bytes`, go to the DLQ with the file, line number and reason; the rest of
the file still loads (see `long_lines` for lines longer than Arrow's read block). Columns given in
the stream's `schema` are held to that type (values that do not fit go to the DLQ).

Incremental streams remember the files they processed (name, size, modification time)
and read only new or changed ones, checkpointing every few files so a crash resumes
where it stopped. A full refresh reads every matching file.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator, Mapping
from fnmatch import fnmatch
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.json as pajson
import pyarrow.parquet as pq
from airbyte_protocol.models import (
    AirbyteCatalog,
    AirbyteStream,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    SyncMode,
)
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingestion.connections import column_name
from ingestion.drift import SchemaConformer
from ingestion.protocol import (
    Checkpoint,
    ReadEvent,
    Records,
    Rejected,
    Rejects,
    Source,
    SourceError,
    SourceTotals,
    is_incremental,
    json_schema_of,
)
from ingestion.sources.long_lines import (
    DEFAULT_BLOCK_BYTES,
    DEFAULT_MAX_RECORD_BYTES,
    fit_long_lines,
)
from lake.errors import LakeError
from lake.location import parse_lake_url

SOURCE_FILE_FIELD = pa.field("_source_file", pa.string())
CHECKPOINT_FILES = 16  # incremental streams commit after this many files
BATCH_ROWS = 250_000
TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "int32": pa.int32(),
    "float64": pa.float64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


class FilesSourceError(SourceError):
    """The landing zone cannot be listed or a file cannot be read."""


def arrow_type(name: str) -> pa.DataType:
    """A type named in a stream's `schema`: one of TYPES, or decimal(p,s)."""
    text = name.strip().lower().replace(" ", "")
    if text in TYPES:
        return TYPES[text]
    if text.startswith("decimal(") and text.endswith(")"):
        precision, _, scale = text[8:-1].partition(",")
        return pa.decimal128(int(precision), int(scale or 0))
    raise ValueError(f"unknown type {name!r}: expected one of {', '.join(TYPES)} or decimal(p,s)")


class FilesStreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    pattern: str = Field(description="glob of file names under the landing folder, e.g. *.csv")
    format: Literal["jsonl", "csv", "parquet"]
    schema_: dict[str, str] = Field(
        default_factory=dict,
        alias="schema",
        description="column: type, overriding inference (string, int64, float64, bool, date, "
        "timestamp, decimal(p,s))",
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    max_record_bytes: int = Field(
        default=DEFAULT_MAX_RECORD_BYTES,
        ge=DEFAULT_BLOCK_BYTES,  # a line under Arrow's block is never looked at
        le=1 << 30,
        description="jsonl: a longer line goes to the DLQ with its size and place, and the "
        "rest of the file loads (default 16 MiB, at least 1 MiB)",
    )

    @field_validator("schema_")
    @classmethod
    def _types(cls, value: dict[str, str]) -> dict[str, str]:
        for column, type_name in value.items():
            column_name(column)
            arrow_type(type_name)
        return value

    def declared_schema(self) -> pa.Schema | None:
        if not self.schema_:
            return None
        return pa.schema([pa.field(c, arrow_type(t)) for c, t in self.schema_.items()])


class FilesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    url: str = Field(description="landing folder: a path, file:// or s3://bucket/prefix URL")
    streams: list[FilesStreamOptions] = Field(default_factory=list)

    def options(self, stream: str) -> FilesStreamOptions:
        for options in self.streams:
            if options.name == stream:
                return options
        raise FilesSourceError(f"stream {stream!r} has no pattern and format in the config")


def list_files(url: str, pattern: str) -> tuple[pafs.FileSystem, str, list[pafs.FileInfo]]:
    try:
        location = parse_lake_url(url)
        fs = location.filesystem()
        root = location.root
        if fs.get_file_info(root).type == pafs.FileType.NotFound:
            raise FilesSourceError(f"landing folder {url} does not exist")
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    except (LakeError, OSError) as exc:
        raise FilesSourceError(f"cannot list the landing folder {url}: {exc}") from exc
    files = sorted(
        (
            i
            for i in infos
            if i.type == pafs.FileType.File and fnmatch(i.path[len(root) :].lstrip("/"), pattern)
        ),
        key=lambda i: i.path,
    )
    return fs, root, files


# -- parsing ------------------------------------------------------------------------------
def _lines(data: bytes) -> list[tuple[int, bytes]]:
    return [(n, line) for n, line in enumerate(data.splitlines(), start=1) if line.strip()]


def _split_bad_utf8(data: bytes, name: str) -> tuple[bytes, Rejects | None]:
    """Keep the lines that are valid UTF-8; the others go to the DLQ and leave an empty
    line, so the lines after them keep their numbers."""
    try:
        data.decode("utf-8")
        return data, None
    except UnicodeDecodeError:
        pass
    good, raw, numbers = [], [], []
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        try:
            line.decode("utf-8")
            good.append(line)
        except UnicodeDecodeError as exc:
            good.append(line[len(line.rstrip(b"\r\n")) :])
            raw.append(line.decode("utf-8", errors="replace").rstrip("\r\n"))
            numbers.append((number, f"invalid UTF-8 at byte {exc.start}"))
    rejects = Rejects(raw, [r for _, r in numbers], name, [n for n, _ in numbers])
    return b"".join(good), rejects


def _json_tables(lines: list[tuple[int, bytes]], options: pajson.ReadOptions) -> Iterator[pa.Table]:
    """Parse JSON lines that are each valid objects. Lines whose values disagree in type
    are parsed apart (halving the block until it parses), so each keeps its own types and
    the schema check decides which values fit."""
    if not lines:
        return
    try:
        yield pajson.read_json(io.BytesIO(b"\n".join(line for _, line in lines)), options)
        return
    except pa.ArrowInvalid:
        if len(lines) == 1:
            raise
    middle = len(lines) // 2
    yield from _json_tables(lines[:middle], options)
    yield from _json_tables(lines[middle:], options)


def parse_jsonl(
    data: bytes, name: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> tuple[list[pa.Table], list[Rejects]]:
    data, bad_utf8 = _split_bad_utf8(data, name)
    rejects = [bad_utf8] if bad_utf8 is not None else []
    if not data.strip():
        return [], rejects
    try:  # the fast path: the whole file in Arrow's default blocks
        return [pajson.read_json(io.BytesIO(data))], rejects
    except pa.ArrowInvalid:
        pass
    fitted = fit_long_lines(data, name, max_record_bytes)
    data, options = fitted.data, fitted.read_options
    if fitted.rejects is not None:
        rejects.append(fitted.rejects)
    try:
        return [pajson.read_json(io.BytesIO(data), options)], rejects
    except pa.ArrowInvalid:
        pass
    good, raw, reasons, numbers = [], [], [], []
    for number, line in _lines(data):
        try:
            value = orjson.loads(line)
            if not isinstance(value, dict):
                raise ValueError(f"expected a JSON object, got {type(value).__name__}")
            good.append((number, line))
        except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
            raw.append(line.decode("utf-8", errors="replace"))
            reasons.append(f"invalid JSON: {exc}")
            numbers.append(number)
    if raw:
        rejects.append(Rejects(raw, reasons, name, numbers))
    return list(_json_tables(good, options)), rejects


def parse_csv(data: bytes, name: str, delimiter: str = ",") -> tuple[list[pa.Table], list[Rejects]]:
    data, bad_utf8 = _split_bad_utf8(data, name)
    rejects = [bad_utf8] if bad_utf8 is not None else []
    raw, reasons, numbers = [], [], []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        raw.append(row.text)
        reasons.append(
            f"invalid CSV row: expected {row.expected_columns} columns, got {row.actual_columns}"
        )
        numbers.append(row.number)
        return "skip"

    if not data.strip():
        return [], rejects
    # single-threaded parsing is what makes Arrow report the line number of a bad row
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
    )
    if raw:
        rejects.append(Rejects(raw, reasons, name, numbers))
    return [table], rejects


def _parquet_tables(fs: pafs.FileSystem, path: str) -> Iterator[pa.Table]:
    with fs.open_input_file(path) as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS):
            yield pa.Table.from_batches([batch])


def _fingerprint(info: pafs.FileInfo) -> dict[str, Any]:
    mtime = info.mtime.isoformat() if info.mtime is not None else None
    return {"size": info.size, "mtime": mtime}


class FilesSource(Source[FilesConfig]):
    name = "files"
    config_model = FilesConfig
    source_defined_cursor = True

    def check(self, config: FilesConfig) -> None:
        for options in config.streams:
            list_files(config.url, options.pattern)

    def discover(self, config: FilesConfig) -> AirbyteCatalog:
        streams = []
        for options in config.streams:
            fs, root, files = list_files(config.url, options.pattern)
            schema = pa.schema([SOURCE_FILE_FIELD])
            for info in files[:1]:
                tables, _ = self._parse(fs, root, info, options)
                if tables:
                    schema = pa.schema([*tables[0].schema, SOURCE_FILE_FIELD])
            streams.append(
                AirbyteStream(
                    name=options.name,
                    json_schema=json_schema_of(schema),
                    supported_sync_modes=[SyncMode.full_refresh, SyncMode.incremental],
                    source_defined_cursor=True,
                )
            )
        return AirbyteCatalog(streams=streams)

    def read(
        self,
        config: FilesConfig,
        catalog: ConfiguredAirbyteCatalog,
        state: Mapping[str, dict[str, Any]],
    ) -> Iterator[ReadEvent]:
        for stream in catalog.streams:
            yield from self._read_stream(config, stream, state.get(stream.stream.name) or {})

    def _parse(self, fs, root: str, info: pafs.FileInfo, options: FilesStreamOptions):
        name = info.path[len(root) :].lstrip("/")
        try:
            if options.format == "parquet":
                return list(_parquet_tables(fs, info.path)), []
            with fs.open_input_stream(info.path) as f:
                data = f.read()
            if options.format == "jsonl":
                return parse_jsonl(data, name, options.max_record_bytes)
            return parse_csv(data, name, options.delimiter)
        except (pa.ArrowInvalid, OSError) as exc:
            raise FilesSourceError(f"cannot parse {name}: {exc}") from exc

    def _read_stream(
        self, config: FilesConfig, stream: ConfiguredAirbyteStream, state: dict[str, Any]
    ) -> Iterator[ReadEvent]:
        name = stream.stream.name
        options = config.options(name)
        incremental = is_incremental(stream)
        fs, root, files = list_files(config.url, options.pattern)
        seen: dict[str, Any] = dict(state.get("files", {})) if incremental else {}
        declared = options.declared_schema()
        pending, rows = 0, 0
        for info in files:
            key = info.path[len(root) :].lstrip("/")
            if incremental and seen.get(key) == _fingerprint(info):
                continue
            tables, rejects = self._parse(fs, root, info, options)
            for rejected in rejects:
                rows += rejected.num_rows
                yield Rejected(name, rejected)
            for table in tables:
                table = table.append_column(
                    SOURCE_FILE_FIELD, pa.repeat(pa.scalar(key, pa.string()), table.num_rows)
                )
                if declared is not None:
                    # the declared columns take their declared types; the rest is inferred.
                    # Values that do not fit are schema violations: the engine applies the
                    # stream's schema_policy to them (DLQ, or fail the sync)
                    conformer = SchemaConformer(name, declared, "dlq")
                    table, bad = conformer.conform(table)
                    if bad is not None:
                        rows += bad.num_rows
                        yield Rejected(name, bad)
                rows += table.num_rows
                for batch in table.to_batches(max_chunksize=BATCH_ROWS):
                    yield Records(name, batch)
            seen[key] = _fingerprint(info)
            pending += 1
            if incremental and pending >= CHECKPOINT_FILES:
                yield SourceTotals(name, rows=rows)
                yield Checkpoint(name, {"files": dict(seen)})
                pending, rows = 0, 0
        if not files:
            raise FilesSourceError(f"no files match {options.pattern!r} in {config.url}")
        yield SourceTotals(name, rows=rows)
        yield Checkpoint(name, {"files": dict(seen)})


if __name__ == "__main__":
    from ingestion.airbyte_cli import run

    sys.exit(run(FilesSource()))
