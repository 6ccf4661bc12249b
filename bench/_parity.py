"""Compare two Parquet outputs of one table: row counts, null counts, the sum of every
numeric column, and the Arrow type of every column (our metadata columns left out)."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds


def _numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def profile(files: list[Path]) -> dict:
    """Rows, and per column: Arrow type, nulls and (numeric columns) sum; read column by
    column so the parent holds one column at a time."""
    dataset = ds.dataset([str(f) for f in files], format="parquet")
    report: dict = {"rows": dataset.count_rows(), "columns": {}}
    for field in dataset.schema:
        if field.name.startswith("_"):
            continue  # the engine's metadata (_sync_id, _extracted_at, _op, ...)
        column = dataset.to_table(columns=[field.name]).column(0)
        entry = {"type": field.type, "nulls": column.null_count}
        if _numeric(field.type):
            entry["sum"] = pc.sum(column).as_py()
        report["columns"][field.name] = entry
    return report


def _same_sum(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    return Decimal(str(a)) == Decimal(str(b))


def differences(ours: dict, theirs: dict, label: str) -> list[str]:
    """What differs, one line each; an empty list when the outputs agree."""
    found = []
    if ours["rows"] != theirs["rows"]:
        found.append(f"rows: ours {ours['rows']:,}, {label} {theirs['rows']:,}")
    for name in sorted(set(ours["columns"]) | set(theirs["columns"])):
        a, b = ours["columns"].get(name), theirs["columns"].get(name)
        if a is None or b is None:
            found.append(f"{name}: only in {'theirs' if a is None else 'ours'}")
            continue
        if a["type"] != b["type"]:
            found.append(f"{name}: type ours {a['type']}, {label} {b['type']}")
        if a["nulls"] != b["nulls"]:
            found.append(f"{name}: nulls ours {a['nulls']:,}, {label} {b['nulls']:,}")
        if ("sum" in a or "sum" in b) and not _same_sum(a.get("sum"), b.get("sum")):
            found.append(f"{name}: sum ours {a.get('sum')}, {label} {b.get('sum')}")
    return found
