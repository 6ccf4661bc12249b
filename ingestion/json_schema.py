"""JSON schemas (as in an Airbyte catalog) to Arrow schemas, and JSON records to Arrow batches.

The mapping, per property (`["null", X]` and `anyOf`/`oneOf` with a null branch make the
field nullable; Arrow fields are non-nullable only when the schema excludes null):

    integer (or number with airbyte_type integer)  -> int64
    number                                         -> float64
    boolean                                        -> bool
    string                                         -> string
    string, format date-time                       -> timestamp[us, UTC]
      ... with airbyte_type timestamp_without_timezone -> timestamp[us]
    string, format date                            -> date32
    object, array, no type, $ref                   -> string holding the value as JSON text
    a union of scalar types (["string", "integer"]) -> string (strings as they are, other
                                                     values as JSON text)
    integer + number                               -> float64

Records are converted a batch at a time, column by column, with Arrow doing the parsing
(timestamps and dates are cast from strings in one call). Only when a column fails is it
converted value by value to find the records that do not fit, which the caller rejects
with the reason; the other records of the batch go on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

TIMESTAMP_TZ = pa.timestamp("us", "UTC")
TIMESTAMP = pa.timestamp("us")
SCALAR_TYPES = ("integer", "number", "boolean", "string")

# kinds of column: how values are checked and converted
INTEGER, NUMBER, BOOLEAN, STRING, TIMESTAMP_UTC, TIMESTAMP_NAIVE, DATE, JSON, TEXT = (
    "integer",
    "number",
    "boolean",
    "string",
    "timestamp_utc",
    "timestamp_naive",
    "date",
    "json",
    "text",
)
ARROW_TYPES: dict[str, pa.DataType] = {
    INTEGER: pa.int64(),
    NUMBER: pa.float64(),
    BOOLEAN: pa.bool_(),
    STRING: pa.string(),
    TIMESTAMP_UTC: TIMESTAMP_TZ,
    TIMESTAMP_NAIVE: TIMESTAMP,
    DATE: pa.date32(),
    JSON: pa.string(),
    TEXT: pa.string(),
}
EXPECTED = {
    INTEGER: "an integer",
    NUMBER: "a number",
    BOOLEAN: "a boolean",
    STRING: "a string",
    TIMESTAMP_UTC: "a date-time string",
    TIMESTAMP_NAIVE: "a date-time string",
    DATE: "a date string (YYYY-MM-DD)",
    JSON: "a JSON value",
    TEXT: "a scalar",
}
_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError, TypeError)


def json_text(value: Any) -> str:
    """The value as compact JSON (Python's json for what orjson refuses: ints beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


class Misfit(ValueError):
    """A value does not fit its column."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    nullable: bool
    # for object/array columns: the JSON type the values must have (None: any)
    json_type: str | None = None

    @property
    def field(self) -> pa.Field:
        return pa.field(self.name, ARROW_TYPES[self.kind], nullable=self.nullable)


# -- the schema mapping -------------------------------------------------------------------
def _types_of(prop: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The non-null alternatives of a property (each a schema with one `type`), and
    whether null is allowed."""
    nullable = False
    branches = prop.get("anyOf") or prop.get("oneOf")
    if isinstance(branches, list) and "type" not in prop:
        alternatives: list[dict[str, Any]] = []
        for branch in branches:
            if not isinstance(branch, dict):
                continue
            inner, inner_nullable = _types_of(branch)
            nullable = nullable or inner_nullable
            alternatives.extend(inner)
        return alternatives, nullable
    declared = prop.get("type")
    if declared is None:
        # untyped ({}, $ref, or only properties/items): infer what we can
        if "properties" in prop:
            return [{**prop, "type": "object"}], True
        if "items" in prop:
            return [{**prop, "type": "array"}], True
        return [{}], True
    names = [declared] if isinstance(declared, str) else list(declared)
    alternatives = []
    for name in names:
        if name == "null":
            nullable = True
        else:
            alternatives.append({**prop, "type": name})
    return alternatives, nullable


def _kind_of_one(prop: dict[str, Any]) -> tuple[str, str | None]:
    declared = prop.get("type")
    airbyte_type = prop.get("airbyte_type")
    if declared == "integer" or (declared == "number" and airbyte_type == "integer"):
        return INTEGER, None
    if declared == "number":
        return NUMBER, None
    if declared == "boolean":
        return BOOLEAN, None
    if declared == "string":
        fmt = prop.get("format")
        if fmt == "date-time" or airbyte_type in (
            "timestamp_with_timezone",
            "timestamp_without_timezone",
        ):
            if airbyte_type == "timestamp_without_timezone":
                return TIMESTAMP_NAIVE, None
            return TIMESTAMP_UTC, None
        if fmt == "date" or airbyte_type == "date":
            return DATE, None
        return STRING, None
    if declared in ("object", "array"):
        return JSON, declared
    return JSON, None


def column_of(name: str, prop: Any) -> Column:
    """The column for one property of a JSON schema."""
    if not isinstance(prop, dict):  # `true` or junk: anything goes
        return Column(name, JSON, True)
    alternatives, nullable = _types_of(prop)
    if not alternatives:  # only null
        return Column(name, JSON, True)
    kinds = {_kind_of_one(alt) for alt in alternatives}
    if len(kinds) == 1:
        kind, json_type = kinds.pop()
        return Column(name, kind, nullable, json_type)
    kind_names = {kind for kind, _ in kinds}
    if kind_names == {INTEGER, NUMBER}:
        return Column(name, NUMBER, nullable)
    if all(alt.get("type") in SCALAR_TYPES for alt in alternatives):
        return Column(name, TEXT, nullable)
    return Column(name, JSON, nullable)


def columns_of(json_schema: dict[str, Any]) -> list[Column]:
    properties = json_schema.get("properties") or {}
    return [column_of(str(name), prop) for name, prop in properties.items()]


def arrow_schema(json_schema: dict[str, Any]) -> pa.Schema:
    """The Arrow schema for a stream's JSON schema (see the module's docstring)."""
    return pa.schema([c.field for c in columns_of(json_schema)])


# -- converting values --------------------------------------------------------------------
_OFFSET = r"\d\d:\d\d(:\d\d(\.\d*)?)?\s*(Z|z|[+-]\d\d(:?\d\d)?)$"  # after a time
_EXTRA_DIGITS = r"(\.\d{6})\d+"


def timestamps(values: Sequence[Any] | pa.Array, utc: bool) -> pa.Array:
    """Date-time strings as timestamps (in UTC, or naive); raises when one does not parse."""
    strings = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    target = TIMESTAMP_TZ if utc else TIMESTAMP
    try:
        return pc.cast(strings, target)
    except pa.ArrowInvalid:
        pass
    # mixed or unusual strings: beyond microseconds, no offset (taken as UTC, as
    # Airbyte destinations do), a bare date; times with an offset go to UTC
    strings = pc.replace_substring_regex(strings, _EXTRA_DIGITS, r"\1")
    has_offset = pc.match_substring_regex(strings, _OFFSET)
    null = pa.scalar(None, pa.string())
    aware = pc.cast(pc.if_else(has_offset, strings, null), TIMESTAMP_TZ)
    naive = pc.cast(pc.cast(pc.if_else(has_offset, null, strings), TIMESTAMP), TIMESTAMP_TZ)
    result = pc.coalesce(aware, naive)
    return result if utc else pc.cast(result, TIMESTAMP)


def dates(values: Sequence[Any] | pa.Array) -> pa.Array:
    """Date strings (or date-times: their UTC date) as dates; raises when one does not parse."""
    strings = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    try:
        return pc.cast(strings, pa.date32())
    except pa.ArrowInvalid:
        # a date-time where a date is expected: its (UTC) date
        return pc.cast(timestamps(strings, utc=False), pa.date32(), safe=False)


def _integers(values: Sequence[Any]) -> pa.Array:
    array = pa.array(values)
    if pa.types.is_int64(array.type):
        return array
    if pa.types.is_null(array.type) or pa.types.is_integer(array.type):
        return pc.cast(array, pa.int64())
    if pa.types.is_floating(array.type):
        return pc.cast(array, pa.int64())  # safe: 1.0 fits, 1.5 and 1e300 do not
    raise Misfit(f"{array.type} values")


def _numbers(values: Sequence[Any]) -> pa.Array:
    array = pa.array(values)
    if pa.types.is_floating(array.type) or pa.types.is_null(array.type):
        return pc.cast(array, pa.float64())
    if pa.types.is_integer(array.type):
        return pc.cast(array, pa.float64(), safe=False)  # beyond 2**53 rounds, as JSON does
    raise Misfit(f"{array.type} values")


def _json_text(values: Sequence[Any], json_type: str | None) -> pa.Array:
    wanted = {"object": dict, "array": list}.get(json_type or "")
    out = []
    for value in values:
        if value is None:
            out.append(None)
        elif wanted is not None and not isinstance(value, wanted):
            raise Misfit(f"not an {json_type}")
        else:
            out.append(json_text(value))
    return pa.array(out, pa.string())


def _text(values: Sequence[Any]) -> pa.Array:
    out = []
    for value in values:
        if value is None or isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict | list):
            raise Misfit("not a scalar")
        else:
            out.append(json_text(value))
    return pa.array(out, pa.string())


def _converter(column: Column) -> Callable[[Sequence[Any]], pa.Array]:
    kind = column.kind
    if kind == INTEGER:
        return _integers
    if kind == NUMBER:
        return _numbers
    if kind in (BOOLEAN, STRING):
        arrow_type = ARROW_TYPES[kind]
        return lambda values: pa.array(values, arrow_type)
    if kind == TIMESTAMP_UTC:
        return lambda values: timestamps(values, utc=True)
    if kind == TIMESTAMP_NAIVE:
        return lambda values: timestamps(values, utc=False)
    if kind == DATE:
        return dates
    if kind == TEXT:
        return _text
    return lambda values: _json_text(values, column.json_type)


def convert_column(column: Column, values: Sequence[Any]) -> pa.Array:
    """The values as the column's Arrow array; raises Misfit when one does not fit."""
    try:
        array = _converter(column)(values)
    except Misfit:
        raise
    except _CONVERSION_ERRORS as exc:
        raise Misfit(str(exc)) from exc
    if not column.nullable and array.null_count:
        raise Misfit("null in a non-nullable field")
    return array


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def misfit_reason(column: Column, value: Any) -> str:
    if value is None:
        return f"field {column.name!r} is missing or null but the schema says it is not nullable"
    shown = json_text(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    expected = EXPECTED[column.kind]
    if column.json_type:
        expected = f"an {column.json_type}"
    return f"field {column.name!r}: expected {expected}, got {_json_kind(value)} {shown}"


def records_to_batch(
    rows: Sequence[dict[str, Any]], columns: Sequence[Column], schema: pa.Schema
) -> tuple[pa.RecordBatch, dict[int, str]]:
    """The rows that fit as one batch, and {index: reason} for the rows that do not.
    Properties the schema does not declare are left out."""
    values = {c.name: [row.get(c.name) for row in rows] for c in columns}
    arrays: list[pa.Array] = []
    failed: list[Column] = []
    for column in columns:
        try:
            arrays.append(convert_column(column, values[column.name]))
        except Misfit:
            failed.append(column)
    if not failed:
        return pa.RecordBatch.from_arrays(arrays, schema=schema), {}
    bad: dict[int, str] = {}
    for column in failed:
        for index, value in enumerate(values[column.name]):
            if index in bad:
                continue
            try:
                convert_column(column, [value])
            except Misfit:
                bad[index] = misfit_reason(column, value)
    if not bad:
        # the column fails as a whole but no value alone does: find the rows one by one
        for index, row in enumerate(rows):
            for column in failed:
                try:
                    convert_column(column, [row.get(column.name)])
                except Misfit as exc:
                    bad[index] = f"field {column.name!r}: {exc}"
                    break
        if not bad:
            first = failed[0]
            raise Misfit(f"field {first.name!r} cannot be converted to {first.field.type}")
    good = [row for index, row in enumerate(rows) if index not in bad]
    batch, more = records_to_batch(good, columns, schema)
    if more:  # cannot happen when values fit alone; keep the reasons anyway
        positions = [index for index in range(len(rows)) if index not in bad]
        for index, reason in more.items():
            bad[positions[index]] = reason
    return batch, bad


__all__ = [
    "Column",
    "Misfit",
    "arrow_schema",
    "column_of",
    "columns_of",
    "convert_column",
    "dates",
    "json_text",
    "misfit_reason",
    "records_to_batch",
    "timestamps",
]
