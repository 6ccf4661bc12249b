"""Where an incremental SQL read resumes: the cursor value, then the primary key.

A cursor alone cannot say where a read stopped among rows that share one cursor value
(a bulk update, a clamped timestamp): `cursor > c` would skip the rows not yet read and
`cursor >= c` reads all of them again, every sync. The position (cursor, key) of the last
row read orders every row, so `cursor > c OR (cursor = c AND key > k)` reads each row once.

The sql source commits one checkpoint per stream, after it has read the whole snapshot,
so the position it keeps is the greatest (cursor, key) among the rows read: the last row
an `ORDER BY cursor, key` would give, without paying for the sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

CURSOR = "cursor"
KEY = "cursor_key"  # {key column: value} of the last row read, beside the cursor value


def stored(value: Any) -> Any:
    """A value as kept in the JSON state: ISO text for times and dates, text for decimals."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value) if isinstance(value, Decimal) else value


def bound(value: Any, arrow_type: pa.DataType) -> Any:
    """A stored value as the driver binds it for a column of this type."""
    if not isinstance(value, str):
        return value
    if pa.types.is_timestamp(arrow_type):
        return datetime.fromisoformat(value)
    if pa.types.is_date(arrow_type):
        return date.fromisoformat(value)
    if pa.types.is_decimal(arrow_type):
        return Decimal(value)
    return value


class _Placeholders:
    def __init__(self, sqlite: bool):
        self.sqlite, self.count = sqlite, 0

    def __call__(self) -> str:
        self.count += 1
        return "?" if self.sqlite else f"${self.count}"


def _column(name: str, arrow_type: pa.DataType, sqlite: bool) -> str:
    # Python and Arrow compare text by code point; so do SQLite and PostgreSQL's "C" collation
    if not sqlite and (pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)):
        return f'"{name}" COLLATE "C"'
    return f'"{name}"'


def resume_clause(
    state: dict[str, Any], cursor_field: str, key: list[str], schema: pa.Schema, sqlite: bool
) -> tuple[str, tuple]:
    """The WHERE clause (with its parameters) that reads past the committed position."""
    if state.get(CURSOR) is None:
        return "", ()
    placeholder = _Placeholders(sqlite)
    cursor_type = schema.field(cursor_field).type
    cursor = _column(cursor_field, cursor_type, sqlite)
    value = bound(state[CURSOR], cursor_type)
    last_key = state.get(KEY)
    if not key or not isinstance(last_key, dict) or list(last_key) != key:
        # state written before the key was kept (or the key changed, or there is none):
        # `>=` reads the rows at the cursor once more; the new state carries the key
        return f" WHERE {cursor} >= {placeholder()}", (value,)
    columns = [_column(k, schema.field(k).type, sqlite) for k in key]
    keys = tuple(bound(last_key[k], schema.field(k).type) for k in key)
    # cursor > c OR (cursor = c AND key > k), written so an index on the cursor serves
    # it as a range; placeholders are numbered in the order of the text
    at_least, after = placeholder(), placeholder()
    if len(key) == 1:
        after_key = f"{columns[0]} > {placeholder()}"
    else:
        after_key = f"({', '.join(columns)}) > ({', '.join(placeholder() for _ in key)})"
    where = f" WHERE {cursor} >= {at_least} AND ({cursor} > {after} OR {after_key})"
    return where, (value, value, *keys)


@dataclass
class LastPosition:
    """The greatest (cursor, key) among the rows read so far."""

    cursor_field: str
    key: list[str]
    value: tuple | None = None

    def update(self, batch: pa.RecordBatch) -> None:
        cursor = batch.column(self.cursor_field)
        top = pc.max(cursor)
        if not top.is_valid:
            return
        candidate: tuple = (top.as_py(),)
        if self.key:
            at_top = batch.filter(pc.equal(cursor, top))
            order = pc.sort_indices(at_top, sort_keys=[(k, "descending") for k in self.key])
            last = at_top.take(order[:1]).to_pylist()[0]
            candidate += tuple(last[k] for k in self.key)
        if self.value is None or candidate > self.value:
            self.value = candidate

    def state(self) -> dict[str, Any]:
        """The position for the stream's state ({} when no row was read)."""
        if self.value is None:
            return {}
        document: dict[str, Any] = {CURSOR: stored(self.value[0])}
        if self.key:
            document[KEY] = {k: stored(v) for k, v in zip(self.key, self.value[1:], strict=True)}
        return document


__all__ = ["CURSOR", "KEY", "LastPosition", "bound", "resume_clause", "stored"]
