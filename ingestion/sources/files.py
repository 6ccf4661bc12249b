"""Read landing-zone files (JSON lines, CSV) into Arrow, sending bad lines to the DLQ.

Each file is parsed by Arrow's own readers. A JSON-lines file that fails as a whole
is split line by line only then, so the good lines still load and each bad line is
kept with its file, line number and the reason.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatch

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.json as pajson

from ingestion.bronze import Rejects
from ingestion.connections import FilesConfig, StreamConfig
from ingestion.sources import StreamRead
from lake.location import parse_lake_url

SOURCE_FILE_FIELD = pa.field("_source_file", pa.string())


class FilesSourceError(RuntimeError):
    """The landing zone cannot be listed or a file cannot be read."""


def list_files(config: FilesConfig, pattern: str) -> tuple[pafs.FileSystem, list[str]]:
    location = parse_lake_url(config.url)
    fs = location.filesystem()
    root = location.root
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise FilesSourceError(f"landing folder {config.url} does not exist")
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    paths = sorted(
        i.path
        for i in infos
        if i.type == pafs.FileType.File and fnmatch(i.path[len(root) :].lstrip("/"), pattern)
    )
    return fs, paths


def _parse_jsonl(data: bytes, path: str) -> tuple[pa.Table | None, Rejects | None]:
    try:
        return pajson.read_json(io.BytesIO(data)), None
    except pa.ArrowInvalid:
        pass
    good, raw, reasons, line_numbers = [], [], [], []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            if not isinstance(value, dict):
                raise ValueError(f"expected a JSON object, got {type(value).__name__}")
            good.append(line)
        except ValueError as exc:
            raw.append(line.decode("utf-8", errors="replace"))
            reasons.append(f"invalid JSON: {exc}")
            line_numbers.append(number)
    table = pajson.read_json(io.BytesIO(b"\n".join(good))) if good else None
    return table, Rejects(raw, reasons, path, line_numbers)


def _parse_csv(data: bytes, path: str) -> tuple[pa.Table | None, Rejects | None]:
    raw, reasons, line_numbers = [], [], []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        raw.append(row.text)
        reasons.append(
            f"invalid CSV row: expected {row.expected_columns} columns, got {row.actual_columns}"
        )
        line_numbers.append(row.number or -1)
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data), parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid)
    )
    return table, Rejects(raw, reasons, path, line_numbers) if raw else None


@contextmanager
def read_files(config: FilesConfig, stream: StreamConfig) -> Iterator[StreamRead]:
    """Read every file matching the stream's pattern (full refresh of the landing zone)."""
    assert stream.pattern and stream.format
    fs, paths = list_files(config, stream.pattern)
    parse = _parse_jsonl if stream.format == "jsonl" else _parse_csv
    tables, rejects = [], []
    for path in paths:
        with fs.open_input_stream(path) as f:
            data = f.read()
        try:
            table, rejected = parse(data, path)
        except pa.ArrowInvalid as exc:
            raise FilesSourceError(f"cannot parse {path}: {exc}") from exc
        if rejected is not None:
            rejects.append(rejected)
        if table is not None and table.num_rows:
            tables.append(table.append_column(SOURCE_FILE_FIELD, pa.array([path] * table.num_rows)))
    if not tables:
        raise FilesSourceError(
            f"no readable {stream.format} files match {stream.pattern!r} in {config.url}"
        )
    # files infer types separately (a column may be all null in one): let Arrow widen them
    table = pa.concat_tables(tables, promote_options="permissive")
    yield StreamRead(
        schema=table.schema, batches=iter(table.to_batches(max_chunksize=250_000)), rejects=rejects
    )
