"""Bronze as DuckLake tables, or Parquet under the sync's own commit (docs/lake.md, Bronze).

On a copy of a lake's bronze (`python bench/bronze_catalog_bench.py DATA_DIR`), per sync
(the files one sync committed to one stream):

- today's commit: the state file written atomically, then the staged files moved into
  bronze (ingestion/commit.py, without its bookkeeping);
- the same files registered in a DuckLake in one transaction with the sync's state row
  (`ducklake_add_data_files`: the files stay where they are, in the documented layout);

then a count of every stream read by path (any Parquet reader) and through the catalog.
Prints medians; the machine may be shared, so compare the two columns of one run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import duckdb

from lake import open_lake

STAGING = "bronze/_staging"


def syncs_of(bronze: Path) -> dict[tuple[str, str, str], list[Path]]:
    """(connection, stream, sync id) -> the files that sync committed."""
    found: dict[tuple[str, str, str], list[Path]] = defaultdict(list)
    for path in sorted(bronze.glob("*/*/extracted_date=*/part-*.parquet")):
        connection, stream = path.parts[-4], path.parts[-3]
        if connection.startswith("_"):
            continue
        sync_id = path.stem.removeprefix("part-").rsplit("-", 1)[0]
        found[(connection, stream, sync_id)].append(path)
    return found


def todays_commit(root: Path, key: tuple[str, str, str], files: list[Path]) -> float:
    """Stage the files, then time the commit: the state file, then the moves."""
    lake = open_lake(str(root), create=False)
    connection, stream, sync_id = key
    staged = []
    for f in files:
        target = root / STAGING / connection / sync_id / f.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(f, target)
        staged.append((target, f))
    state = {"streams": {stream: {"cursor": sync_id}}, "pending": [str(f) for f in files]}
    started = time.perf_counter()
    lake.write_json(lake.path("_ops", "state", f"{connection}.json"), state)
    for source, target in staged:
        lake.move(str(source), str(target))
    lake.write_json(lake.path("_ops", "state", f"{connection}.json"), {"streams": state})
    return time.perf_counter() - started


def catalog_commit(con: duckdb.DuckDBPyConnection, key, files: list[Path]) -> float:
    """Register the files and the sync's state in one DuckLake transaction."""
    connection, stream, sync_id = key
    con.execute(f"create schema if not exists b.{connection}")
    con.execute(
        f"create table if not exists b.{connection}.{stream} as "
        f"select * from read_parquet('{files[0]}', hive_partitioning = true) limit 0"
    )
    started = time.perf_counter()
    con.execute("begin")
    for f in files:
        con.execute(
            "call ducklake_add_data_files('b', ?, ?, schema => ?, hive_partitioning => true)",
            [stream, str(f), connection],
        )
    con.execute(
        "insert into b.main.sync_state values (?, ?, ?)",
        [connection, stream, json.dumps({"cursor": sync_id})],
    )
    con.execute("commit")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="a DATA_DIR after a few demo runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "lake"
        shutil.copytree(args.data_dir / "lake" / "bronze", root / "bronze")
        (root / "_ops").mkdir()
        syncs = syncs_of(root / "bronze")
        con = duckdb.connect()
        catalog = Path(scratch) / "bronze.sqlite"
        con.execute(
            f"attach 'ducklake:sqlite:{catalog}' as b "
            f"(DATA_PATH '{root}/', META_JOURNAL_MODE 'WAL')"
        )
        con.execute("create table b.main.sync_state (connection varchar, stream varchar, s json)")
        today, registered = [], []
        for key, files in syncs.items():
            today.append(todays_commit(root, key, files))
            registered.append(catalog_commit(con, key, files))
        files = sum(len(f) for f in syncs.values())
        print(f"{len(syncs)} syncs, {files} files, {len({k[:2] for k in syncs})} streams")
        print(
            f"commit per sync, median: today {statistics.median(today) * 1000:.1f} ms, "
            f"DuckLake {statistics.median(registered) * 1000:.1f} ms "
            f"(max {max(today) * 1000:.1f} / {max(registered) * 1000:.1f} ms)"
        )
        con.execute("checkpoint")
        print(f"catalog: {catalog.stat().st_size / 1024:.0f} KB")
        streams = sorted({k[:2] for k in syncs})
        for label, sql in (
            ("by path", "read_parquet('{root}/bronze/{c}/{s}/**/*.parquet', hive_partitioning=1)"),
            ("catalog", "b.{c}.{s}"),
        ):
            started = time.perf_counter()
            rows = 0
            for c, s in streams:
                relation = sql.format(root=root, c=c, s=s)
                rows += con.execute(f"select count(*) from {relation}").fetchone()[0]
            seconds = time.perf_counter() - started
            print(f"count every stream {label}: {rows:,} rows in {seconds:.2f} s")


if __name__ == "__main__":
    main()
