"""How many rows a sync read again: rows at or before the position an earlier sync committed.

For a cursor-based stream (sql, http_api) a row whose cursor (then key) is at or before the
committed position was read by an earlier sync: reading it again costs time, and in an
append stream a second copy. The sql source reads none when its state has the key
(`ingestion.sources.position`); `>=` (a state without the key, a table without one) and an
API's lookback do. Streams without a cursor in their state (files, CDC, full refreshes)
are not counted: their run record says null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.sources.position import CURSOR, KEY, bound


@dataclass
class RereadCounter:
    cursor_field: str
    cursor: Any  # as stored in the state
    key: dict[str, Any] | None
    count: int | None = 0  # None once a batch cannot be compared with the position

    @classmethod
    def for_stream(cls, cursor_field: str | None, state: dict[str, Any]) -> RereadCounter | None:
        if not cursor_field or state.get(CURSOR) is None:
            return None
        if state.get("cursor_field", cursor_field) != cursor_field:
            return None  # the cursor changed: the position says nothing about this one
        key = state.get(KEY)
        return cls(cursor_field, state[CURSOR], key if isinstance(key, dict) and key else None)

    def add(self, table: pa.Table) -> None:
        if self.count is None or not table.num_rows:
            return
        try:
            self.count += self._at_or_before(table)
        except (pa.ArrowException, ValueError, TypeError):
            self.count = None  # a cursor of a type the stored value does not compare with

    def _at_or_before(self, table: pa.Table) -> int:
        if self.cursor_field not in table.column_names:
            raise ValueError(f"no column {self.cursor_field}")
        column = table.column(self.cursor_field)
        last = pa.scalar(bound(self.cursor, column.type), column.type)
        before = pc.sum(pc.less(column, last)).as_py() or 0
        at = table.filter(pc.equal(column, last))
        if not at.num_rows or self.key is None or not set(self.key) <= set(at.column_names):
            return before + at.num_rows
        last_key = tuple(bound(v, at.schema.field(k).type) for k, v in self.key.items())
        rows = at.select(list(self.key)).to_pylist()
        return before + sum(1 for row in rows if tuple(row.values()) <= last_key)


__all__ = ["RereadCounter"]
