"""Parse dead letters again, the way their stream's source parses records.

A dead letter's `raw` is either the record as JSON (a typed record that failed a check,
an API or connector record, a SQL row), or, for the `files` source, the line or CSV row
as it was in the file. JSON records are parsed with the files source's JSON-lines reader
(Arrow's, type inference included), so any stream's dead letters can be parsed back; a
CSV row is parsed behind its file's header line, with the stream's delimiter. Two kinds
of files dead letters do not hold the whole record: a line that was not valid UTF-8
(kept with replacement characters) and a line over `max_record_bytes` (its first
characters only). Those are read again from the source file, at their line, when the
file is still there.

Every parsed row carries `_dlq_row`, the index of its dead letter, so the replay can
tell where it came from; what does not parse is returned as Rejects with the dead
letter's own location and line and the new reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import pyarrow as pa

from ingestion.connections import Connection, StreamConfig
from ingestion.protocol import Rejects
from ingestion.sources.files import FilesConfig, FilesStreamOptions, parse_csv, parse_jsonl
from lake.errors import LakeError
from lake.location import parse_lake_url

ROW = "_dlq_row"
# reasons whose raw text is not the whole record (ingestion.sources.files, long_lines)
PARTIAL_RAW = ("invalid UTF-8", "record of ")


def rejects_of(letters: pa.Table, rows: list[int], reasons: list[str]) -> Rejects:
    """Dead letters that fail again: their raw text, location and line, the new reason."""
    take = letters.take(pa.array(rows, pa.int64()))
    return Rejects(
        take.column("raw").to_pylist(),
        reasons,
        [location or "" for location in take.column("location").to_pylist()],
        take.column("line_number").to_pylist(),
    )


@dataclass
class Reparsed:
    tables: list[pa.Table] = field(default_factory=list)  # each with ROW
    rejects: list[Rejects] = field(default_factory=list)

    def reject(self, letters: pa.Table, rows: list[int], reasons: list[str]) -> None:
        if rows:
            self.rejects.append(rejects_of(letters, rows, reasons))


def _json_object(raw: str | None) -> bool:
    if not raw or not raw.lstrip().startswith("{"):
        return False
    try:
        return isinstance(orjson.loads(raw), dict)
    except orjson.JSONDecodeError:
        return False


def _tagged(raw: str, row: int) -> bytes:
    """The JSON object with `"_dlq_row": row` as its first member (the rest untouched, so
    numbers keep their spelling)."""
    body = raw.strip()[1:].lstrip()
    separator = "" if body.startswith("}") else ","
    return f'{{"{ROW}":{row}{separator}{body}'.encode()


def _with_row(tables: list[pa.Table], row: int) -> list[pa.Table]:
    return [t.append_column(ROW, pa.repeat(pa.scalar(row, pa.int64()), t.num_rows)) for t in tables]


class _SourceFiles:
    """The files a `files` stream read, for re-reading lines and headers."""

    def __init__(self, config: FilesConfig):
        self.url = config.url
        self._lines: dict[str, list[bytes] | None] = {}

    def lines(self, name: str) -> list[bytes] | None:
        if name not in self._lines:
            try:
                location = parse_lake_url(self.url)
                path = f"{location.root.rstrip('/')}/{name}"
                with location.filesystem().open_input_stream(path) as handle:
                    self._lines[name] = handle.read().splitlines()
            except (LakeError, OSError):
                self._lines[name] = None
        return self._lines[name]


def reparse(connection: Connection, stream: StreamConfig, letters: pa.Table) -> Reparsed:
    """Parse the dead letters (ingestion.dlq.read_dead_letters) of one stream again."""
    result = Reparsed()
    raws = letters.column("raw").to_pylist()
    json_rows = [i for i, raw in enumerate(raws) if _json_object(raw)]
    if json_rows:
        buffer = b"\n".join(_tagged(raws[i], i) for i in json_rows)
        tables, rejects = parse_jsonl(buffer, "the DLQ", 1 << 30)
        result.tables += tables
        for rejected in rejects:  # not expected: each line is a JSON object
            lines = rejected.table.column("line_number").to_pylist()
            result.reject(
                letters, [json_rows[n - 1] for n in lines], rejected.table["reason"].to_pylist()
            )
    others = [i for i in range(len(raws)) if i not in set(json_rows)]
    if not others:
        return result
    if connection.source != "files":
        result.reject(
            letters,
            others,
            [
                f"cannot replay: the dead letter is not a JSON record (a {connection.source} "
                "source's records replay from their JSON)"
            ]
            * len(others),
        )
        return result
    config = FilesConfig.model_validate(connection.source_config())
    _reparse_file_lines(config.options(stream.name), _SourceFiles(config), letters, others, result)
    return result


def _reparse_file_lines(
    options: FilesStreamOptions,
    files: _SourceFiles,
    letters: pa.Table,
    rows: list[int],
    result: Reparsed,
) -> None:
    """Lines and CSV rows of a `files` stream, parsed one by one by the stream's parser."""
    raws = letters.column("raw").to_pylist()
    reasons = letters.column("reason").to_pylist()
    locations = letters.column("location").to_pylist()
    numbers = letters.column("line_number").to_pylist()
    for i in rows:
        name, number = locations[i] or "", numbers[i]
        data = (raws[i] or "").encode()
        if (reasons[i] or "").startswith(PARTIAL_RAW):
            lines = files.lines(name)
            if lines is None or not number or number > len(lines):
                result.reject(
                    letters,
                    [i],
                    [
                        f"cannot replay: the DLQ keeps only part of this record and line "
                        f"{number} of {name} cannot be read from {files.url}"
                    ],
                )
                continue
            data = lines[number - 1]
        if options.format == "csv":
            lines = files.lines(name)
            if not lines:
                result.reject(
                    letters,
                    [i],
                    [f"cannot replay: a CSV row needs the header of {name}, gone from {files.url}"],
                )
                continue
            tables, rejects = parse_csv(lines[0] + b"\n" + data, name, options.delimiter)
        else:
            tables, rejects = parse_jsonl(data, name, options.max_record_bytes)
        result.tables += _with_row([t for t in tables if t.num_rows], i)
        for rejected in rejects:
            result.reject(letters, [i], rejected.table["reason"].to_pylist()[:1])


__all__ = ["ROW", "Reparsed", "rejects_of", "reparse"]
