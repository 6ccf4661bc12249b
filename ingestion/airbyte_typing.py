"""Records typed the way Airbyte's destinations type them ("typing and deduping").

A connector's JSON schema is a promise it does not always keep: a field typed `string`
carries integers, a field whose type lacks "null" carries nulls. Airbyte's destinations
load such records anyway, and so does this module:

- a value castable to its column's type is cast: an integer in a string field becomes its
  text, an object or array its JSON text, "12" in an integer field 12, "1.5" in a number
  field 1.5, "true" in a boolean field true, a date-time string in a date field its date;
- every column is nullable, except the primary key's;
- a value that cannot be cast ("abc" in an integer field, 1.5 in an integer field, an array
  in an object field) is nulled, and the row's `_airbyte_meta` (JSON text) lists it:
  `{"changes": [{"field": "id", "change": "NULLED", "reason":
  "DESTINATION_SERIALIZATION_ERROR"}]}`, with the changes the source itself recorded in the
  record's `meta`. With the stream's `uncastable_values: dlq`, such a record goes to the
  DLQ instead;
- a record whose primary key is null, or cannot be cast, goes to the DLQ either way.

Columns convert a batch at a time in Arrow (`ingestion.json_schema`). A column that fails as
a whole is turned into text value by value (the one per-record Python step, on that column
only) and cast in halves until the values that do not cast are found: about k·log2(n) Arrow
casts for k bad values in a batch of n.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.json_schema import (
    ARROW_TYPES,
    DATE,
    JSON,
    STRING,
    TEXT,
    TIMESTAMP_NAIVE,
    TIMESTAMP_UTC,
    Column,
    Misfit,
    convert_column,
    dates,
    json_text,
    misfit_reason,
    timestamps,
)

META_COLUMN = "_airbyte_meta"
META_FIELD = pa.field(META_COLUMN, pa.string(), nullable=False)
NO_CHANGES = '{"changes":[]}'
NULLED = {"change": "NULLED", "reason": "DESTINATION_SERIALIZATION_ERROR"}
UncastablePolicy = Literal["nullify", "dlq"]
_CAST_ERRORS = (Misfit, pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError, TypeError)


def airbyte_columns(columns: Sequence[Column], primary_key: Sequence[str]) -> list[Column]:
    """The columns as Airbyte's destinations declare them: nullable unless in the key."""
    keys = set(primary_key)
    return [replace(c, nullable=c.name not in keys) for c in columns]


def typed_schema(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([*(c.field for c in columns), META_FIELD])


@dataclass
class Typed:
    batch: pa.RecordBatch
    rejected: dict[int, str]  # row index: why it went to the DLQ
    nulled: int  # values nulled (policy nullify)


# -- casting one column -------------------------------------------------------------------
def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 2.0 is the integer 2
    return json_text(value)  # true, 7, 1.5, {"a": 1}, [1]


def _text_cast(kind: str) -> Callable[[pa.Array], pa.Array]:
    if kind == TIMESTAMP_UTC:
        return lambda text: timestamps(text, utc=True)
    if kind == TIMESTAMP_NAIVE:
        return lambda text: timestamps(text, utc=False)
    if kind == DATE:
        return dates
    target = ARROW_TYPES[kind]
    return lambda text: text.cast(target)


def _cast_or_null(
    cast: Callable[[pa.Array], pa.Array], text: pa.Array, target: pa.DataType, offset: int = 0
) -> tuple[list[pa.Array], list[int]]:
    """Cast the text, halving around the values that fail (they become null)."""
    try:
        return [cast(text)], []
    except _CAST_ERRORS:
        if len(text) == 1:
            return [pa.nulls(1, target)], [offset]
    middle = len(text) // 2
    left, bad_left = _cast_or_null(cast, text.slice(0, middle), target, offset)
    right, bad_right = _cast_or_null(cast, text.slice(middle), target, offset + middle)
    return left + right, bad_left + bad_right


def _json_or_null(column: Column, values: Sequence[Any]) -> tuple[pa.Array, list[int]]:
    wanted = {"object": dict, "array": list}[column.json_type or ""]
    out: list[str | None] = []
    bad: list[int] = []
    for index, value in enumerate(values):
        if value is None or isinstance(value, wanted):
            out.append(None if value is None else json_text(value))
        else:
            out.append(None)
            bad.append(index)
    return pa.array(out, pa.string()), bad


def cast_column(column: Column, values: Sequence[Any]) -> tuple[pa.Array, list[int]]:
    """The values as the column's Arrow array, and the positions of those that could not
    be cast (null in the array). Nulls are kept; nullability is the caller's business."""
    loose = replace(column, nullable=True)
    try:
        return convert_column(loose, values), []
    except Misfit:
        pass
    if column.kind == JSON and column.json_type:
        return _json_or_null(column, values)
    text = pa.array([_as_text(v) for v in values], pa.string())
    if column.kind in (STRING, TEXT, JSON):
        return text, []  # anything has a text
    target = ARROW_TYPES[column.kind]
    parts, bad = _cast_or_null(_text_cast(column.kind), text, target)
    return pa.concat_arrays([p.cast(target) for p in parts]), bad


# -- a batch ------------------------------------------------------------------------------
def _meta(changes: list[dict[str, Any]]) -> str:
    return json_text({"changes": changes})


def type_records(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    policy: UncastablePolicy = "nullify",
    source_meta: dict[int, Any] | None = None,
) -> Typed:
    """The rows as one batch of `typed_schema(columns)` (see the module's docstring).
    `source_meta`: {row index: the record's own `meta`} for the records that have one."""
    arrays: list[pa.Array] = []
    changes: dict[int, list[dict[str, Any]]] = {}
    nulled: dict[int, int] = {}  # row index: values of it we nulled
    rejected: dict[int, str] = {}
    for column in columns:
        values = [row.get(column.name) for row in rows]
        array, bad = cast_column(column, values)
        arrays.append(array)
        for index in bad:
            if not column.nullable or policy == "dlq":
                rejected.setdefault(index, misfit_reason(column, values[index]))
            else:
                changes.setdefault(index, []).append({"field": column.name, **NULLED})
                nulled[index] = nulled.get(index, 0) + 1
        if not column.nullable and array.null_count:
            for index in pc.indices_nonzero(array.is_null()).to_pylist():
                rejected.setdefault(index, f"primary key field {column.name!r} is missing or null")
    for index, meta in (source_meta or {}).items():
        theirs = meta.get("changes") if isinstance(meta, dict) else None
        if isinstance(theirs, list) and theirs:
            changes[index] = [*theirs, *changes.get(index, [])]
    metas = [NO_CHANGES] * len(rows)
    for index, row_changes in changes.items():
        metas[index] = _meta(row_changes)
    arrays.append(pa.array(metas, pa.string()))
    schema = typed_schema(columns)
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
    if rejected:
        keep = [index not in rejected for index in range(len(rows))]
        batch = batch.filter(pa.array(keep))
    return Typed(batch, rejected, sum(n for i, n in nulled.items() if i not in rejected))


__all__ = [
    "META_COLUMN",
    "META_FIELD",
    "NO_CHANGES",
    "Typed",
    "UncastablePolicy",
    "airbyte_columns",
    "cast_column",
    "type_records",
    "typed_schema",
]
