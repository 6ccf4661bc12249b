"""Copy the lake into PostgreSQL for `dbt build --target postgres`.

Each bronze stream folder `bronze/<source>/<stream>/` becomes the table
`raw_<source>.<stream>`: every Parquet file of the stream, unioned by column name (newer
files may carry extra columns; older files read them as nulls), plus the hive partition
column (`extracted_date`). The rows stream from the lake (a folder or a bucket) through
pyarrow.dataset into ADBC's bulk ingest, never whole in memory, and each table is replaced
atomically (see warehouse.postgres_tables). The pipeline's own records (`_ops` and the DLQ) go
to `raw_ops` (see warehouse.postgres_ops).

    python -m warehouse.postgres_raw [--dsn postgresql://...] [--lake URL] [--source NAME ...]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence

import pyarrow.fs as pafs

from lake.errors import LakeError
from lake.storage import Lake, open_lake
from warehouse.postgres_ops import OPS_SCHEMA, OPS_SOURCE, load_ops
from warehouse.postgres_tables import (
    PostgresLoadError,
    check_identifier,
    connect,
    create_schemas,
    dsn_from_env,
    parquet_dataset,
    replace_table,
)

log = logging.getLogger(__name__)

SCHEMA_PREFIX = "raw_"
BATCH_ROWS = 65_536

__all__ = [
    "PostgresLoadError",
    "bronze_streams",
    "dsn_from_env",
    "load_bronze_to_postgres",
    "raw_table",
]


def raw_table(source: str, stream: str) -> tuple[str, str]:
    """(schema, table) of a bronze stream in PostgreSQL: raw_<source>.<stream>."""
    check_identifier(source, "source")
    if source == OPS_SOURCE:
        raise PostgresLoadError(
            f"source {source!r}: the name is reserved for the pipeline's own records "
            f"(schema {OPS_SCHEMA}); rename the connection"
        )
    return check_identifier(SCHEMA_PREFIX + source, "schema"), check_identifier(stream, "stream")


# -- bronze -----------------------------------------------------------------------------------
def _subfolders(lake: Lake, path: str) -> list[str]:
    if not lake.exists(path):
        return []
    infos = lake.fs.get_file_info(pafs.FileSelector(path, recursive=False))
    return sorted(
        i.base_name
        for i in infos
        if i.type == pafs.FileType.Directory and not i.base_name.startswith((".", "_"))
    )


def bronze_streams(lake: Lake, sources: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """(source, stream) of every bronze stream folder holding Parquet files; folders starting
    with `_` (`_dlq`, `_staging`) are not streams."""
    present = _subfolders(lake, lake.path("bronze"))
    if sources is not None:
        missing = [s for s in sources if s not in present]
        if missing:
            raise PostgresLoadError(
                f"no bronze for source {missing[0]!r} in {lake.url} "
                f"(have: {', '.join(present) or 'none'}); sync it first"
            )
        present = [s for s in present if s in sources]
    return [
        (source, stream)
        for source in present
        for stream in _subfolders(lake, lake.path("bronze", source))
        if lake.list_files(lake.bronze(source, stream), suffix=".parquet")
    ]


def load_stream(connection, lake: Lake, source: str, stream: str) -> int:
    """Replace raw_<source>.<stream> with the stream's bronze rows, atomically; the rows."""
    schema, table = raw_table(source, stream)
    what = f"bronze {source}.{stream}"
    base = lake.bronze(source, stream)
    paths = [i.path for i in lake.list_files(base, suffix=".parquet")]
    dataset = parquet_dataset(lake, base, paths, what)
    batches = dataset.to_batches(batch_size=BATCH_ROWS)
    return replace_table(connection, schema, table, dataset.schema, batches, what)


def load_bronze_to_postgres(
    lake: Lake, dsn: str, sources: Sequence[str] | None = None
) -> dict[str, int]:
    """Load every bronze stream into raw_<source>.<stream> and the pipeline's records into
    raw_ops (`sources` limits both; name `ops` for the latter); the rows loaded per table,
    keyed `<schema>.<table>`."""
    with_ops = sources is None or OPS_SOURCE in sources
    bronze_sources = None if sources is None else [s for s in sources if s != OPS_SOURCE]
    streams = bronze_streams(lake, bronze_sources)
    tables = {(source, stream): raw_table(source, stream) for source, stream in streams}
    schemas = {schema for schema, _ in tables.values()} | ({OPS_SCHEMA} if with_ops else set())
    loaded: dict[str, int] = {}
    connection = connect(dsn)
    try:
        create_schemas(connection, schemas)
        for (source, stream), (schema, table) in tables.items():
            started = time.perf_counter()
            loaded[f"{schema}.{table}"] = rows = load_stream(connection, lake, source, stream)
            log.info("%s.%s: %s rows in %.1f s", schema, table, rows, time.perf_counter() - started)
        if with_ops:
            loaded.update(load_ops(connection, lake))
    finally:
        connection.close()
    return loaded


# -- command line -----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m warehouse.postgres_raw",
        description="Copy bronze (raw_<source>.<stream>) and the pipeline's records (raw_ops) "
        "into PostgreSQL, for dbt build --target postgres.",
    )
    parser.add_argument(
        "--dsn",
        help="postgresql://user@host:port/db (default: from DBT_PG_HOST, DBT_PG_PORT, "
        "DBT_PG_USER, DBT_PG_PASSWORD, DBT_PG_DATABASE; keep the password in the env)",
    )
    parser.add_argument("--lake", help="the lake URL (default: LAKE_URL)")
    parser.add_argument(
        "--source", action="append", help="only this source (repeatable; `ops` for raw_ops)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log each table")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    lake_url = args.lake or os.environ.get("LAKE_URL")
    if not lake_url:
        print("postgres_raw: give --lake or set LAKE_URL", file=sys.stderr)
        return 2
    try:
        lake = open_lake(lake_url, create=False)
        counts = load_bronze_to_postgres(lake, args.dsn or dsn_from_env(), args.source)
    except LakeError as exc:
        print(f"postgres_raw: {exc}", file=sys.stderr)
        return 2
    for table, rows in counts.items():
        print(f"{table}\t{rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
