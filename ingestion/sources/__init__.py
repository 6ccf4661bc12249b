"""Sources: each turns one stream of an outside system into Arrow batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from ingestion.bronze import Rejects


@dataclass
class StreamRead:
    """One stream being read: its schema, its batches (lazy), and the records it rejected
    (filled in as the batches are consumed)."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch | pa.Table]
    rejects: list[Rejects] = field(default_factory=list)
    source_rows: int | None = None  # what the source says it holds, when it can tell
