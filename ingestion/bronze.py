"""Write a stream's records into bronze Parquet, with metadata columns, and its rejects to the DLQ.

Layout: bronze/<source>/<stream>/extracted_date=<date>/part-<sync_id>-<n>.parquet.
Files are written atomically; a full refresh removes the stream's older files only
after every new file is in place, so a crash leaves the last complete copy readable
(staging keeps the latest version of each key, so an overlap never double counts).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from datetime import datetime

import pyarrow as pa

from lake import Lake

METADATA_FIELDS = [
    pa.field("_sync_id", pa.string(), nullable=False),
    pa.field("_extracted_at", pa.timestamp("us", tz="UTC"), nullable=False),
]
DLQ_SCHEMA = pa.schema(
    [
        pa.field("raw", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("line_number", pa.int64()),
        *METADATA_FIELDS,
    ]
)
ROWS_PER_FILE = 1_000_000
ROW_GROUP_ROWS = 250_000


class Rejects:
    """Records a source could not parse or validate, with the reason and where they were."""

    def __init__(
        self, raw: list[str], reasons: list[str], source_file: str, line_numbers: list[int]
    ):
        self.table = pa.table(
            {
                "raw": pa.array(raw, pa.string()),
                "reason": pa.array(reasons, pa.string()),
                "source_file": pa.array([source_file] * len(raw), pa.string()),
                "line_number": pa.array(line_numbers, pa.int64()),
            }
        )

    @property
    def num_rows(self) -> int:
        return self.table.num_rows


class BronzeWriter:
    def __init__(self, lake: Lake, source: str, stream: str, sync_id: str, extracted_at: datetime):
        self.lake, self.source, self.stream = lake, source, stream
        self.sync_id, self.extracted_at = sync_id, extracted_at
        self.partition = f"extracted_date={extracted_at.date().isoformat()}"
        self.files: list[str] = []
        self.rows_written = 0
        self.rows_dlq = 0

    def _with_metadata(self, batch: pa.RecordBatch | pa.Table) -> pa.Table:
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        n = table.num_rows
        table = table.append_column(METADATA_FIELDS[0], pa.array([self.sync_id] * n, pa.string()))
        extracted = pa.scalar(self.extracted_at, METADATA_FIELDS[1].type)
        return table.append_column(METADATA_FIELDS[1], pa.repeat(extracted, n))

    def write(self, batches: Iterable[pa.RecordBatch | pa.Table], schema: pa.Schema) -> None:
        """Write the stream's data, rolling to a new file every ROWS_PER_FILE rows. An empty
        stream still gets one (empty) file, so its schema exists downstream."""
        full_schema = pa.schema([*schema, *METADATA_FIELDS])
        with ExitStack() as files:
            writer, rows_in_file = None, 0
            for table in self._conformed(batches, schema):
                while table.num_rows:
                    if writer is None or rows_in_file == ROWS_PER_FILE:
                        files.close()
                        writer, rows_in_file = files.enter_context(self._next_file(full_schema)), 0
                    head = table.slice(0, ROWS_PER_FILE - rows_in_file)
                    table = table.slice(head.num_rows)
                    writer.write_table(self._with_metadata(head), row_group_size=ROW_GROUP_ROWS)
                    rows_in_file += head.num_rows
                    self.rows_written += head.num_rows
            if writer is None:
                files.enter_context(self._next_file(full_schema))

    def _next_file(self, schema: pa.Schema):
        path = self.lake.path(
            "bronze",
            self.source,
            self.stream,
            self.partition,
            f"part-{self.sync_id}-{len(self.files):04d}.parquet",
        )
        self.files.append(path)
        return self.lake.parquet_writer(path, schema)

    @staticmethod
    def _conformed(
        batches: Iterable[pa.RecordBatch | pa.Table], schema: pa.Schema
    ) -> Iterator[pa.Table]:
        for batch in batches:
            table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
            if table.schema != schema:
                table = table.select(schema.names).cast(schema)
            if table.num_rows:
                yield table

    def write_rejects(self, rejects: list[Rejects]) -> None:
        rejects = [r for r in rejects if r.num_rows]
        if not rejects:
            return
        table = pa.concat_tables([self._with_metadata(r.table) for r in rejects])
        path = self.lake.path(
            "bronze",
            "_dlq",
            self.source,
            self.stream,
            self.partition,
            f"part-{self.sync_id}.parquet",
        )
        self.lake.write_parquet(path, table.to_batches(), DLQ_SCHEMA)
        self.rows_dlq += table.num_rows

    def bytes_written(self) -> int:
        return sum(self.lake.fs.get_file_info(path).size or 0 for path in self.files)

    def replace_previous(self) -> None:
        """Full refresh: drop the stream's files from earlier syncs (ours are all in place)."""
        ours = set(self.files)
        stale = [
            i.path
            for i in self.lake.list_files(self.lake.bronze(self.source, self.stream))
            if i.path not in ours
        ]
        self.lake.delete_files(stale)


__all__ = ["DLQ_SCHEMA", "METADATA_FIELDS", "BronzeWriter", "Rejects"]
