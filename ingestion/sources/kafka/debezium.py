"""Debezium change events as rows, in the columns our own CDC source lands.

An event (bare, or wrapped as `{"schema": ..., "payload": ...}` by the JSON converter with
schemas on) has `op` (r snapshot read, c create, u update, d delete), the row `before` and
`after` the change, and `source` (for PostgreSQL, `source.lsn`). It becomes:

- for r/c/u: the `after` row, `_op` = op;
- for d: the `before` row (with PostgreSQL's default replica identity, the key columns
  only, the others null: the tombstone our CDC lands), `_op` = 'd';
- `_position` = `source.lsn` when the event carries one, else the message's offset. Debezium
  keys each message by the row's primary key, so one key's events are in one partition,
  in order: either position orders them, which is all the staging dedup needs.

A null value after a delete is Kafka's compaction tombstone: the delete event before it
says it all, so it is skipped (and counted). An event with another op (t: truncate, m:
message) or without op goes to the DLQ."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.protocol import OP_COLUMN, POSITION_COLUMN

OPS = ("r", "c", "u", "d")


def _struct_field(column: pa.ChunkedArray | pa.Array, name: str) -> pa.Array | None:
    kind = column.type
    if not pa.types.is_struct(kind) or kind.get_field_index(name) < 0:
        return None
    return pc.struct_field(column, name)


def _fields(column: pa.Array | None) -> list[pa.Field]:
    if column is None or not pa.types.is_struct(column.type):
        return []
    return list(column.type)


def unwrap(table: pa.Table) -> pa.Table:
    """The events, without the JSON converter's `schema`/`payload` wrapping."""
    if "payload" in table.column_names and "op" not in table.column_names:
        payload = table.column("payload").combine_chunks()
        if pa.types.is_struct(payload.type):
            return pa.Table.from_struct_array(payload)
    return table


def decode_events(table: pa.Table, offsets: pa.Array) -> tuple[pa.Table, pa.Array]:
    """The rows, and a mask of the events that had a known op (the others go to the DLQ)."""
    table = unwrap(table)
    n = table.num_rows
    op = (
        table.column("op").combine_chunks().cast(pa.string())
        if "op" in table.column_names
        else pa.nulls(n, pa.string())
    )
    known = pc.fill_null(pc.is_in(op, pa.array(OPS)), False)
    before = table.column("before").combine_chunks() if "before" in table.column_names else None
    after = table.column("after").combine_chunks() if "after" in table.column_names else None
    is_delete = pc.fill_null(pc.equal(op, "d"), False)
    columns, names = [], []
    seen: dict[str, pa.DataType] = {}
    for f in [*_fields(after), *_fields(before)]:
        seen.setdefault(f.name, f.type)
    for name, kind in seen.items():
        new = _struct_field(after, name) if after is not None else None
        old = _struct_field(before, name) if before is not None else None
        new = new if new is not None else pa.nulls(n, kind)
        old = old if old is not None else pa.nulls(n, kind)
        if new.type != old.type:
            if pa.types.is_null(old.type):
                old = old.cast(new.type)
            elif pa.types.is_null(new.type):
                new = new.cast(old.type)
            else:
                old, new = old.cast(pa.string()), new.cast(pa.string())
        columns.append(pc.if_else(is_delete, old, new))
        names.append(name)
    source = table.column("source").combine_chunks() if "source" in table.column_names else None
    lsn = _struct_field(source, "lsn") if source is not None else None
    position = offsets if lsn is None else pc.coalesce(lsn.cast(pa.int64()), offsets)
    rows = pa.table(
        [*columns, op, position.cast(pa.int64())], names=[*names, OP_COLUMN, POSITION_COLUMN]
    )
    return rows, known


__all__ = ["decode_events", "unwrap"]
