"""Hard deletes on sources without CDC: a primary-key reconciliation pass.

A cursor sees inserts and updates, never a row that is gone. So after an incremental read
the source hands over every key it holds (`KeySnapshot`, read in the same snapshot as the
records), and the keys alive in bronze that it no longer holds get a tombstone: a row with
only the key filled in and `_op = 'd'`, the same shape a CDC delete has, so staging drops
them the way it drops CDC deletes.

A key is alive in bronze when its newest version (by extraction time) is not a tombstone.
Only key and metadata columns are read, with pyarrow's multithreaded Parquet reader; the
comparison is two hash aggregates and an anti-join, no per-row Python.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ingestion.protocol import OP_COLUMN, SOURCE_METADATA_FIELDS
from lake import Lake

EXTRACTED = "_extracted_at"


def live_keys(lake: Lake, source: str, stream: str, key: list[str]) -> pa.Table | None:
    """The keys whose newest committed version in bronze is not a delete (None: no bronze).

    Most keys were never deleted: only the few that were are ranked by extraction time;
    the others are alive whatever their versions."""
    files = [i.path for i in lake.list_files(lake.bronze(source, stream), ".parquet")]
    if not files:
        return None
    versions = (
        ds.dataset(files, filesystem=lake.fs, format="parquet")
        .to_table(columns=[*key, OP_COLUMN, EXTRACTED])
        .combine_chunks()
    )
    every_key = _distinct(versions.select(key))
    is_delete = pc.fill_null(pc.equal(versions.column(OP_COLUMN), "d"), False)
    if not pc.any(is_delete).as_py():
        return every_key
    touched = _having_keys(versions, _distinct(versions.filter(is_delete).select(key)), key)
    touched_delete = pc.fill_null(pc.equal(touched.column(OP_COLUMN), "d"), False)
    newest_delete = _newest(touched.filter(touched_delete), key, "deleted")
    newest_upsert = _newest(touched.filter(pc.invert(touched_delete)), key, "upserted")
    joined = newest_delete.join(newest_upsert, key, join_type="left outer")
    dead = pc.or_kleene(
        pc.is_null(joined.column("upserted")),
        pc.greater_equal(joined.column("deleted"), joined.column("upserted")),
    )
    return _without_keys(every_key, joined.filter(pc.fill_null(dead, True)).select(key), key)


def _integers(column: pa.ChunkedArray | pa.Array) -> np.ndarray | None:
    """A null-free integer key as numpy, where sorting beats Arrow's hash tables (5M keys:
    0.5 s and 80 MB against 3.8 s and 900 MB for pc.unique); None for other keys."""
    if not pa.types.is_integer(column.type) or column.null_count:
        return None
    return column.to_numpy()


def _distinct(keys: pa.Table) -> pa.Table:
    if keys.num_columns == 1:
        name, column = keys.column_names[0], keys.column(0)
        numbers = _integers(column)
        if numbers is not None:
            ordered = np.sort(numbers)  # np.unique hashes since numpy 2: slower here
            first = np.ones(len(ordered), bool)
            first[1:] = ordered[1:] != ordered[:-1]
            return pa.table({name: pa.array(ordered[first], column.type)})
        return pa.table({name: pc.unique(column.combine_chunks())})
    return keys.group_by(keys.column_names).aggregate([])


def _having_keys(rows: pa.Table, keys: pa.Table, key: list[str]) -> pa.Table:
    """The rows whose key is one of `keys` (a hash lookup for a one-column key)."""
    if len(key) == 1:
        return rows.filter(pc.is_in(rows.column(key[0]), value_set=keys.column(0)))
    return rows.join(keys, key, join_type="left semi")


def _without_keys(rows: pa.Table, keys: pa.Table, key: list[str]) -> pa.Table:
    """The rows whose key is not one of `keys`."""
    if len(key) == 1:
        wanted = keys.column(0).cast(rows.schema.field(key[0]).type).combine_chunks()
        have, drop = _integers(rows.column(key[0])), _integers(wanted)
        if have is not None and drop is not None:
            drop = np.sort(drop)
            at = np.minimum(np.searchsorted(drop, have), max(len(drop) - 1, 0))
            found = drop[at] == have if len(drop) else np.zeros(len(have), bool)
            return rows.filter(pa.array(~found))
        return rows.filter(pc.invert(pc.is_in(rows.column(key[0]), value_set=wanted)))
    return rows.join(keys.cast(rows.select(key).schema), key, join_type="left anti")


def _newest(versions: pa.Table, key: list[str], name: str) -> pa.Table:
    newest = versions.group_by(key).aggregate([(EXTRACTED, "max")])
    return newest.rename_columns({f"{EXTRACTED}_max": name})


def keys_gone(alive: pa.Table, source_keys: pa.Table, key: list[str]) -> pa.Table:
    """Keys alive in bronze that the source no longer holds."""
    return _without_keys(alive, source_keys.select(key), key)


def tombstones(gone: pa.Table, schema: pa.Schema) -> pa.Table:
    """One delete row per gone key, with the stream's bronze columns (all but the key null)."""
    n = gone.num_rows
    columns = [
        gone.column(f.name).cast(f.type) if f.name in gone.column_names else pa.nulls(n, f.type)
        for f in schema
        if f.name != OP_COLUMN
    ]
    fields = [f for f in schema if f.name != OP_COLUMN]
    table = pa.Table.from_arrays(columns, schema=pa.schema(fields))
    op_field = SOURCE_METADATA_FIELDS[0]
    return table.append_column(op_field, pa.repeat(pa.scalar("d", op_field.type), n))


__all__ = ["keys_gone", "live_keys", "tombstones"]
