"""Hold a stream's records to its bronze schema, and evolve that schema on purpose.

The expected schema is the one bronze already has (kept in the connection's state), or
the first batch's when the stream is new. Per batch:

- a new column evolves the schema (added, nullable) and is recorded as an event, and so
  does a whole-number column that starts to carry fractions (widened to double), and a
  non-nullable column whose source now declares it nullable (relaxed);
- a column that is gone is filled with nulls (recorded), unless it is required;
- a value that does not fit its column's type, or a null/missing required field, follows
  the stream's policy: the record goes to the DLQ with the reason (`dlq`), or the sync
  fails with a message naming the stream, column and value (`fail`). Recorded either way.

Casting is vectorised; only a column that fails to cast as a whole is looked at value by
value, to find the records at fault.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.protocol import OP_COLUMN, POSITION_COLUMN, Rejects


class SchemaDriftError(RuntimeError):
    """The stream's policy is `fail` and a record does not fit the bronze schema."""


@dataclass
class DriftEvent:
    kind: Literal["new_column", "removed_column", "type_widened", "type_change", "missing_required"]
    column: str
    detail: str
    records: int = 0

    def to_document(self) -> dict[str, Any]:
        return asdict(self)


LOCATION_COLUMN = "_source_file"  # where a source says a record came from, when it does
# columns a source or Airbyte adds to a record (Airbyte's all start with _airbyte_)
ADDED_COLUMNS = {OP_COLUMN, POSITION_COLUMN, LOCATION_COLUMN}


def _raw(table: pa.Table, indices: list[int]) -> list[str]:
    """The records as JSON, without the columns sources add to them (a record's own fields
    that start with `_`, such as a file-based connector's `_ab_source_file_url`, stay)."""
    columns = [
        c for c in table.column_names if c not in ADDED_COLUMNS and not c.startswith("_airbyte_")
    ]
    rows = table.select(columns).take(pa.array(indices, pa.int64())).to_pylist()
    return [json.dumps(row, default=str, ensure_ascii=False) for row in rows]


def _locations(table: pa.Table, indices: list[int], default: str) -> list[str]:
    if LOCATION_COLUMN not in table.column_names:
        return [default] * len(indices)
    values = table.column(LOCATION_COLUMN).take(pa.array(indices, pa.int64())).to_pylist()
    return [value or default for value in values]


def _where(table: pa.Table, indices: list[int]) -> str:
    """` in <file>` for the first record, when the source says where records came from."""
    location = _locations(table, indices, "")[:1]
    return f" in {location[0]}" if location and location[0] else ""


def _unfit_values(column: pa.ChunkedArray, target: pa.DataType) -> list[int]:
    """Indices of the non-null values that cannot be cast to the target type."""
    bad = []
    for i, value in enumerate(column.to_pylist()):
        if value is None:
            continue
        try:
            pa.array([value]).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            bad.append(i)
    return bad


class SchemaConformer:
    def __init__(
        self,
        stream: str,
        expected: pa.Schema | None,
        policy: Literal["dlq", "fail"] = "dlq",
        required: list[str] | None = None,
        key: list[str] | None = None,
    ):
        self.stream, self.schema, self.policy = stream, expected, policy
        self.required = list(required or [])
        self.key = list(key or [])
        self.events: dict[tuple[str, str], DriftEvent] = {}

    def _event(self, kind, column: str, detail: str, records: int = 0) -> None:
        event = self.events.setdefault((kind, column), DriftEvent(kind, column, detail))
        event.records += records

    def _violation(self, message: str) -> None:
        if self.policy == "fail":
            raise SchemaDriftError(f"{self.stream}: {message} (schema_policy: fail)")

    def conform(self, data: pa.Table | pa.RecordBatch) -> tuple[pa.Table, Rejects | None]:
        """The records that fit (cast to the bronze schema) and the ones that do not."""
        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        if self.schema is None:
            self.schema = table.schema
        self._evolve(table.schema)
        reject_reasons: dict[int, str] = {}
        columns = []
        for field in self.schema:
            if field.name not in table.column_names:
                column = pa.nulls(table.num_rows, field.type)
                if field.name in self.required and table.num_rows:
                    self._event(
                        "missing_required", field.name, "required field absent", table.num_rows
                    )
                    self._violation(f"required field {field.name!r} is missing")
                    for i in range(table.num_rows):
                        reject_reasons.setdefault(i, f"missing required field {field.name!r}")
                elif table.num_rows:
                    self._event("removed_column", field.name, "absent; filled with nulls")
                columns.append(column)
                continue
            column = table.column(field.name)
            columns.append(self._cast(table, field, column, reject_reasons))
        conformed = pa.Table.from_arrays(columns, schema=self.schema)
        self._check_required(conformed, reject_reasons)
        if not reject_reasons:
            return conformed, None
        bad = sorted(reject_reasons)
        keep = pc.invert(
            pc.is_in(pa.array(range(table.num_rows), pa.int64()), pa.array(bad, pa.int64()))
        )
        rejects = Rejects(
            _raw(table, bad),
            [reject_reasons[i] for i in bad],
            _locations(table, bad, self.stream),
            schema_violation=True,
        )
        return conformed.filter(keep), rejects

    def _evolve(self, incoming: pa.Schema) -> None:
        assert self.schema is not None
        fields = list(self.schema)
        for i, field in enumerate(fields):
            if field.name not in incoming.names:
                continue
            new_type = incoming.field(field.name).type
            # a column first seen all-null has no type yet: the first real type settles it
            if pa.types.is_null(field.type) and not pa.types.is_null(new_type):
                fields[i] = pa.field(field.name, new_type)
            # whole numbers seen first, then fractions (type inference per file): widen
            elif pa.types.is_integer(field.type) and pa.types.is_floating(new_type):
                fields[i] = pa.field(field.name, pa.float64())
                self._event("type_widened", field.name, f"{field.type} widened to double")
            # a source that declares the column nullable now (e.g. the external source's
            # Airbyte typing, after bronze was written from a schema without "null")
            if not fields[i].nullable and incoming.field(field.name).nullable:
                fields[i] = fields[i].with_nullable(True)
                self._event("became_nullable", field.name, "now nullable")
        for field in incoming:
            if field.name not in self.schema.names:
                fields.append(pa.field(field.name, field.type, nullable=True))
                self._event("new_column", field.name, f"added as {field.type}")
        self.schema = pa.schema(fields)

    def _cast(self, table, field: pa.Field, column: pa.ChunkedArray, reasons: dict) -> pa.Array:
        if column.type == field.type:
            return column
        if pa.types.is_null(column.type):
            return pa.nulls(len(column), field.type)
        try:
            return column.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        bad = _unfit_values(column, field.type)
        self._event(
            "type_change", field.name, f"expected {field.type}, got {column.type}", len(bad)
        )
        sample = column[bad[0]].as_py() if bad else None
        where = _where(table, bad[:1])
        self._violation(f"column {field.name!r}: {sample!r} is not a {field.type}{where}")
        for i in bad:
            value = column[i].as_py()
            reasons.setdefault(i, f"column {field.name!r}: {value!r} is not a {field.type}")
        unfit = set(bad)
        mask = pa.array([i not in unfit for i in range(len(column))])
        # the unfit values become null here; their records leave the batch for the DLQ
        return pc.if_else(mask, column, pa.scalar(None, column.type)).cast(field.type)

    def _check_required(self, table: pa.Table, reasons: dict[int, str]) -> None:
        # a CDC delete is a tombstone: only its key is filled in
        tombstones = (
            pc.fill_null(pc.equal(table.column(OP_COLUMN), "d"), False)
            if OP_COLUMN in table.column_names
            else None
        )
        for name in self.required:
            if name not in table.column_names:
                continue
            nulls = pc.is_null(table.column(name))
            if tombstones is not None and name not in self.key:
                nulls = pc.and_(nulls, pc.invert(tombstones))
            count = pc.sum(nulls).as_py() or 0
            if not count:
                continue
            indices = pc.indices_nonzero(nulls).to_pylist()
            fresh = [i for i in indices if i not in reasons]
            if fresh:
                self._event("missing_required", name, "required field is null", len(fresh))
                where = _where(table, fresh[:1])
                self._violation(f"required field {name!r} is null in {len(fresh)} records{where}")
            for i in fresh:
                reasons[i] = f"required field {name!r} is null or missing"

    def event_documents(self) -> list[dict[str, Any]]:
        return [e.to_document() for e in self.events.values()]


__all__ = ["DriftEvent", "SchemaConformer", "SchemaDriftError"]
