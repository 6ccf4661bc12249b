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

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ingestion.protocol import OP_COLUMN, SOURCE_METADATA_FIELDS
from lake import Lake

EXTRACTED = "_extracted_at"


def live_keys(lake: Lake, source: str, stream: str, key: list[str]) -> pa.Table | None:
    """The keys whose newest committed version in bronze is not a delete (None: no bronze)."""
    files = [i.path for i in lake.list_files(lake.bronze(source, stream), ".parquet")]
    if not files:
        return None
    versions = (
        ds.dataset(files, filesystem=lake.fs, format="parquet")
        .to_table(columns=[*key, OP_COLUMN, EXTRACTED])
        .combine_chunks()
    )
    is_delete = pc.fill_null(pc.equal(versions.column(OP_COLUMN), "d"), False)
    newest_upsert = _newest(versions.filter(pc.invert(is_delete)), key, "upserted")
    newest_delete = _newest(versions.filter(is_delete), key, "deleted")
    joined = newest_upsert.join(newest_delete, key, join_type="left outer")
    alive = pc.or_kleene(
        pc.is_null(joined.column("deleted")),
        pc.greater(joined.column("upserted"), joined.column("deleted")),
    )
    return joined.filter(pc.fill_null(alive, True)).select(key)


def _newest(versions: pa.Table, key: list[str], name: str) -> pa.Table:
    newest = versions.group_by(key).aggregate([(EXTRACTED, "max")])
    return newest.rename_columns({f"{EXTRACTED}_max": name})


def keys_gone(alive: pa.Table, source_keys: pa.Table, key: list[str]) -> pa.Table:
    """Keys alive in bronze that the source no longer holds."""
    wanted = source_keys.select(key).cast(alive.schema)
    return alive.join(wanted, key, join_type="left anti")


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
