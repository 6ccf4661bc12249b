"""Copy the pipeline's own records into PostgreSQL's `raw_ops` schema, for dbt's `ops`
source on `--target postgres` (on DuckDB the same source reads the lake directly).

The tables mirror what the source's DuckDB readers yield (models/staging/ops/_ops__sources.yml):

- `sync_runs`: one row per `_ops/runs/<connection>/<sync_id>.json`;
- `schema_events`: one row per `_ops/events/schema/<connection>/<sync_id>.json`;
- `dbt_invocations`: one row per `_ops/dbt/<invocation_id>.json`;
- `alerts`: one row per `_ops/alerts/<time>-<kind>.json`;
- `replayed_dead_letters`: as `dead_letters`, for what replays moved to `_ops/dlq_replayed/`;
- `dead_letters`: one row per DLQ record (`bronze/_dlq/<connection>/<stream>/<partition>/
  *.parquet`) with `filename` (the file's URI, as DuckDB's `filename = true` gives it) and
  `file_row_number` (from 0).

Scalar fields keep their type; nested ones (a sync's streams, drift events, dbt's counts)
are jsonb. Each table is created even when there is nothing to load yet, and replaced
atomically like every raw table (warehouse.postgres_tables).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from common.redaction import error_line as first_line
from lake.storage import Lake
from warehouse.postgres_tables import PostgresLoadError, parquet_dataset, replace_table

log = logging.getLogger(__name__)

OPS_SOURCE = "ops"
OPS_SCHEMA = "raw_ops"
JSON = pa.json_(pa.string())
DOCUMENTS_PER_BATCH = 500
DLQ_BATCH_ROWS = 65_536


@dataclass(frozen=True)
class Documents:
    """A kind of `_ops` JSON document and its table."""

    table: str
    folder: tuple[str, ...]  # under the lake root
    depth: int  # path parts below the folder, the file included (the DuckDB glob's)
    schema: pa.Schema


DOCUMENTS = (
    Documents(
        "sync_runs",
        ("_ops", "runs"),
        2,
        pa.schema(
            [
                ("connection", pa.string()),
                ("source", pa.string()),
                ("sync_id", pa.string()),
                ("started_at", pa.string()),
                ("finished_at", pa.string()),
                ("status", pa.string()),
                ("error", pa.string()),
                ("full_refresh", pa.bool_()),
                ("kind", pa.string()),
                ("streams", JSON),
            ]
        ),
    ),
    Documents(
        "schema_events",
        ("_ops", "events", "schema"),
        2,
        pa.schema([("connection", pa.string()), ("sync_id", pa.string()), ("events", JSON)]),
    ),
    Documents(
        "alerts",
        ("_ops", "alerts"),
        1,
        pa.schema(
            [
                ("kind", pa.string()),
                ("title", pa.string()),
                ("lines", JSON),
                ("details", JSON),
                ("created_at", pa.string()),
                ("webhook", pa.string()),
            ]
        ),
    ),
    Documents(
        "dbt_invocations",
        ("_ops", "dbt"),
        1,
        pa.schema(
            [
                ("invocation_id", pa.string()),
                ("generated_at", pa.string()),
                ("elapsed_s", pa.float64()),
                ("counts", JSON),
                ("failures", JSON),
            ]
        ),
    ),
)
DEAD_LETTERS = "dead_letters"
DLQ_DEPTH = 4  # <connection>/<stream>/<partition>/<file> under bronze/_dlq
# table: the folder of dead-letter files (the DLQ, and what replays took out of it)
DLQ_FOLDERS = {
    DEAD_LETTERS: ("bronze", "_dlq"),
    "replayed_dead_letters": ("_ops", "dlq_replayed"),
}
FILE_COLUMNS = [pa.field("filename", pa.string()), pa.field("file_row_number", pa.int64())]
# the table while the DLQ is empty: what the DLQ files hold
EMPTY_DLQ_SCHEMA = pa.schema(
    [
        ("raw", pa.string()),
        ("reason", pa.string()),
        ("location", pa.string()),
        ("line_number", pa.int64()),
        ("_sync_id", pa.string()),
        ("_extracted_at", pa.timestamp("us", tz="UTC")),
        *FILE_COLUMNS,
    ]
)


def _files(lake: Lake, folder: tuple[str, ...], depth: int, suffix: str) -> list[str]:
    """Files exactly `depth` parts below the folder (as the DuckDB glob reads them)."""
    base = lake.path(*folder)
    return [
        info.path
        for info in lake.list_files(base, suffix=suffix)
        if info.path[len(base) :].strip("/").count("/") == depth - 1
    ]


# -- documents --------------------------------------------------------------------------------
def _scalar(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if isinstance(kind, pa.JsonType):
        return json.dumps(value, default=str, ensure_ascii=False)
    if pa.types.is_string(kind):
        return value if isinstance(value, str) else json.dumps(value, default=str)
    if pa.types.is_boolean(kind):
        return bool(value)
    if pa.types.is_floating(kind):
        return float(value)
    return value


def _batch(documents: list[dict[str, Any]], schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for field in schema:
        values = [_scalar(document.get(field.name), field.type) for document in documents]
        if isinstance(field.type, pa.JsonType):
            arrays.append(pa.ExtensionArray.from_storage(JSON, pa.array(values, pa.string())))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def document_batches(lake: Lake, kind: Documents, paths: list[str]) -> Iterator[pa.RecordBatch]:
    documents: list[dict[str, Any]] = []
    for path in paths:
        try:
            document = lake.read_json(path)
        except (OSError, ValueError) as exc:
            raise PostgresLoadError(f"{lake.key_of(path)}: {first_line(exc)}") from exc
        if not isinstance(document, dict):
            raise PostgresLoadError(f"{lake.key_of(path)}: expected a JSON object")
        documents.append(document)
        if len(documents) == DOCUMENTS_PER_BATCH:
            yield _batch(documents, kind.schema)
            documents = []
    if documents:
        yield _batch(documents, kind.schema)


# -- dead letters -----------------------------------------------------------------------------
def dead_letter_batches(lake: Lake, dataset: ds.Dataset) -> Iterator[pa.RecordBatch]:
    """Each DLQ file's records, in file order, with the file's URI and the row number."""
    for fragment in dataset.get_fragments():
        filename = lake.uri(lake.key_of(fragment.path))
        row = 0
        for batch in fragment.to_batches(
            schema=dataset.schema, batch_size=DLQ_BATCH_ROWS, use_threads=False
        ):
            rows = batch.num_rows
            yield pa.RecordBatch.from_arrays(
                [
                    *batch.columns,
                    pa.array([filename] * rows, pa.string()),
                    pa.array(range(row, row + rows), pa.int64()),
                ],
                schema=batch.schema.append(FILE_COLUMNS[0]).append(FILE_COLUMNS[1]),
            )
            row += rows


# -- load -------------------------------------------------------------------------------------
def load_ops(connection, lake: Lake) -> dict[str, int]:
    """Replace every raw_ops table with what the lake holds now; rows per table.
    The schema must exist (warehouse.postgres_raw creates it)."""
    loaded: dict[str, int] = {}
    for kind in DOCUMENTS:
        paths = _files(lake, kind.folder, kind.depth, ".json")
        what = f"{'/'.join(kind.folder)} documents"
        loaded[f"{OPS_SCHEMA}.{kind.table}"] = replace_table(
            connection,
            OPS_SCHEMA,
            kind.table,
            kind.schema,
            document_batches(lake, kind, paths),
            what,
        )
    for table, folder in DLQ_FOLDERS.items():
        what = f"the dead letters under {'/'.join(folder)}"
        paths = _files(lake, folder, DLQ_DEPTH, ".parquet")
        if paths:
            dataset = parquet_dataset(lake, lake.path(*folder), paths, what)
            schema = dataset.schema.append(FILE_COLUMNS[0]).append(FILE_COLUMNS[1])
            batches: Iterator[pa.RecordBatch] = dead_letter_batches(lake, dataset)
        else:
            schema, batches = EMPTY_DLQ_SCHEMA, iter(())
        loaded[f"{OPS_SCHEMA}.{table}"] = replace_table(
            connection, OPS_SCHEMA, table, schema, batches, what
        )
    for table, rows in loaded.items():
        log.info("%s: %s rows", table, rows)
    return loaded
