"""Benchmark: a PostgreSQL table to bronze Parquet through the sync engine.

A throwaway PostgreSQL server (fsync=off) gets a table of 10 mixed columns filled with
generate_series; an incremental (append_dedup, cursor updated_at) stream is synced to a
local lake, first in full (an empty lake), then again after 1% of the rows changed.
Every measured sync runs in a fresh child process, so its peak RSS is its own. Prints
rows/s, MB/s, peak memory, the incremental sync's share of the full sync's time (medians
of --repeat runs) and the targets passed or missed; not a test. Usage:
    .venv/bin/python bench/ingest_bench.py [--rows 5000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import busy_jiffies, children_cpu, postgres_server, server_jiffies

TABLE = "bench_orders"
CONNECTION = "bench"
TARGET_ROWS_PER_S = 700_000
TARGET_PEAK_MIB = 400
TARGET_INCREMENTAL_SHARE = 0.05
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "4GB",
    "maintenance_work_mem": "256MB",
}

CREATE = f"""
CREATE TABLE {TABLE} (
    id bigint NOT NULL,
    customer_id int NOT NULL,
    status text NOT NULL,
    amount numeric(12, 2) NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    note text,
    quantity int NOT NULL,
    currency text NOT NULL,
    score double precision
)
"""
FILL = """
INSERT INTO bench_orders
SELECT i,
       (i * 7919) % 200000 + 1,
       (ARRAY['pending', 'paid', 'shipped', 'delivered', 'cancelled'])[i % 5 + 1],
       ((i * 104729) % 10000000) / 100.0,
       t,
       t + ((i * 31) % 86400) * interval '1 second',
       CASE WHEN i % 10 < 3 THEN NULL ELSE 'note ' || substr(md5(i::text), 1, 24) END,
       (i * 13) % 50 + 1,
       (ARRAY['EUR', 'USD', 'GBP', 'JPY', 'CHF'])[(i * 7) % 5 + 1],
       CASE WHEN i % 50 = 0 THEN NULL ELSE ((i * 2654435761) % 1000003) / 1000003.0 END
FROM generate_series(1::bigint, {rows}) AS i,
     LATERAL (SELECT timestamptz '2024-01-01 00:00:00+00' + i * interval '5 seconds') AS s(t)
"""
INDEXES = [
    f"ALTER TABLE {TABLE} ADD PRIMARY KEY (id)",
    f"CREATE INDEX {TABLE}_updated_at ON {TABLE} (updated_at)",
]
# 1% of the rows change; updated_at moves past every committed cursor
CHANGE = f"UPDATE {TABLE} SET status = 'refunded', updated_at = now() WHERE id % 100 = 7"


def fill_table(dsn: str, rows: int) -> dict[str, float]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(CREATE)
        conn.execute(FILL.format(rows=int(rows)))
        for statement in INDEXES:
            conn.execute(statement)
        conn.execute(f"VACUUM ANALYZE {TABLE}")
        seconds = time.perf_counter() - started
        total, heap = conn.execute(
            "SELECT pg_total_relation_size(%(t)s), pg_relation_size(%(t)s)", {"t": TABLE}
        ).fetchone()
        nulls = conn.execute(f"SELECT avg((note IS NULL)::int)::float FROM {TABLE}").fetchone()[0]
    return {"seconds": seconds, "total_bytes": total, "heap_bytes": heap, "note_nulls": nulls}


def change_rows(dsn: str) -> tuple[int, float]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        changed = conn.execute(CHANGE).rowcount
        return changed, time.perf_counter() - started


def write_connections(path: Path, dsn: str, checksum: bool) -> None:
    stream = {
        "name": "orders",
        "table": TABLE,
        "sync_mode": "incremental",
        "destination_sync_mode": "append_dedup",
        "cursor_field": "updated_at",
        "primary_key": ["id"],
    }
    if checksum:
        stream["checksum_columns"] = ["quantity"]
    document = {"connections": {CONNECTION: {"source": "sql", "config": {"dsn": dsn}}}}
    document["connections"][CONNECTION]["streams"] = [stream]
    path.write_text(json.dumps(document))  # JSON is YAML


# -- the measured child -----------------------------------------------------------------------
def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(mode: str, lake_dir: str, connections: str) -> None:
    """Run in a fresh process: import (baseline) or one sync; print one JSON line."""
    import adbc_driver_postgresql.dbapi  # noqa: F401  (the driver the sync loads)

    from ingestion.connections import load_connections
    from ingestion.sync import sync_connection
    from lake.storage import open_lake

    report: dict = {}
    if mode == "sync":
        connection = load_connections(connections, os.environ).connections[CONNECTION]
        lake = open_lake(lake_dir)
        cpu, started = _cpu_seconds(), time.perf_counter()
        result = sync_connection(lake, CONNECTION, connection)
        seconds = time.perf_counter() - started
        stream = result.streams[0]
        report = {
            "seconds": seconds,
            "cpu_seconds": _cpu_seconds() - cpu,
            "rows": stream.rows_written,
            "rows_read": stream.rows_read,
            "rows_dlq": stream.rows_dlq,
            "bytes_written": stream.bytes_written,
            "files": len(stream.files),
        }
    report["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(report), flush=True)


def run_child(mode: str, lake_dir: Path, connections: Path, datadir: Path) -> dict:
    """Run the child; also measure what else kept the machine busy while it ran."""
    tick = os.sysconf("SC_CLK_TCK")
    busy0, total0, _ = busy_jiffies()
    server0, child0, started = server_jiffies(datadir), children_cpu(), time.perf_counter()
    load0 = os.getloadavg()[0]
    command = [sys.executable, __file__, "--child", mode, str(lake_dir), str(connections)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the {mode} child failed:\n{done.stderr}")
    time.sleep(0.05)  # let the backend exit, so the postmaster has counted its CPU
    wall = time.perf_counter() - started
    busy1, total1, _ = busy_jiffies()
    server = (server_jiffies(datadir) - server0) / tick
    child_cpu = children_cpu() - child0
    report = json.loads(done.stdout.strip().splitlines()[-1])
    cores = os.cpu_count() or 1
    busy = cores * (busy1 - busy0) / max(total1 - total0, 1)
    # over the child's life: PostgreSQL's CPU, and the cores busy with everything else
    report["server_cpu_seconds"] = server
    report["other_cores"] = max(busy - (server + child_cpu) / wall, 0.0)
    report["load_before"], report["load_after"] = load0, os.getloadavg()[0]
    return report


# -- the benchmark ----------------------------------------------------------------------------
def _mib(kib: float) -> float:
    return kib / 1024


def _show(label: str, r: dict, source_bytes: int) -> None:
    s = r["seconds"]
    print(
        f"  {label:<14} {r['rows']:>10,} rows  {s:7.2f} s  {r['rows'] / s:>10,.0f} rows/s  "
        f"parquet {r['bytes_written'] / 1e6 / s:6.1f} MB/s  "
        f"source {source_bytes / 1e6 / s:6.1f} MB/s  peak {_mib(r['peak_rss_kib']):6.1f} MiB  "
        f"cpu: sync {r['cpu_seconds']:5.2f} s, postgres {r['server_cpu_seconds']:5.2f} s  "
        f"other work {r['other_cores']:.2f} cores  load {r['load_before']:.2f}",
        flush=True,
    )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measured sync")
    parser.add_argument(
        "--checksum",
        action="store_true",
        help="also reconcile SUM(quantity) (one more aggregate over the range read)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    workdir = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    try:
        datadir = workdir / "pgdata"
        with postgres_server(workdir, SERVER_SETTINGS) as (dsn, _):
            settings = ", ".join(f"{k}={v}" for k, v in SERVER_SETTINGS.items())
            print(f"PostgreSQL (throwaway, {settings}; not durable: benchmark only)")
            print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            fill = fill_table(dsn, args.rows)
            source_bytes = int(fill["total_bytes"])
            print(
                f"table {TABLE}: {args.rows:,} rows, 10 columns, {fill['seconds']:.1f} s to "
                f"fill + index + VACUUM ANALYZE; pg_total_relation_size "
                f"{source_bytes / 2**20:,.1f} MiB (heap {fill['heap_bytes'] / 2**20:,.1f} MiB); "
                f"note null {fill['note_nulls']:.0%}",
                flush=True,
            )
            connections = workdir / "connections.yml"
            write_connections(connections, dsn, args.checksum)

            baseline = run_child("import", workdir / "lake-baseline", connections, datadir)
            base_kib = baseline["peak_rss_kib"]
            print(f"\nbaseline child (imports only): peak RSS {_mib(base_kib):.1f} MiB")

            print(f"\nfull sync (empty lake each run), {args.repeat} runs:")
            fulls = []
            for i in range(args.repeat):
                lake_dir = workdir / f"lake-{i}"
                fulls.append(run_child("sync", lake_dir, connections, datadir))
                _show(f"run {i + 1}", fulls[-1], source_bytes)
                if fulls[-1]["rows"] != args.rows:
                    sys.exit(f"expected {args.rows} rows, the sync wrote {fulls[-1]['rows']}")
                if i < args.repeat - 1:
                    shutil.rmtree(lake_dir)
            lake_dir = workdir / f"lake-{args.repeat - 1}"

            print(f"\nincremental sync after 1% changed, {args.repeat} runs (same lake):")
            incs = []
            for i in range(args.repeat):
                changed, update_s = change_rows(dsn)
                incs.append(run_child("sync", lake_dir, connections, datadir))
                _show(f"run {i + 1}", incs[-1], source_bytes)
                print(f"{'':17}(UPDATE of {changed:,} rows took {update_s:.2f} s; not timed)")
                # >= the last cursor: the changed rows, plus any that share the last cursor
                if incs[-1]["rows"] < changed:
                    sys.exit(f"changed {changed} rows but the sync wrote {incs[-1]['rows']}")
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    def median(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    full_s = median(fulls, "seconds")
    rows_per_s = statistics.median(r["rows"] / r["seconds"] for r in fulls)
    parquet_mbs = statistics.median(r["bytes_written"] / 1e6 / r["seconds"] for r in fulls)
    source_mbs = statistics.median(source_bytes / 1e6 / r["seconds"] for r in fulls)
    peak_mib = _mib(median(fulls, "peak_rss_kib"))
    inc_s = median(incs, "seconds")
    share = inc_s / full_s
    print(f"\nsummary, medians of {args.repeat} ({args.rows:,} rows, {os.cpu_count()} cores):")
    print(
        f"  full sync          {full_s:7.2f} s, {median(fulls, 'rows'):,.0f} rows, "
        f"sync process CPU {median(fulls, 'cpu_seconds'):.2f} s"
    )
    print(
        f"  rows/s             {rows_per_s:>10,.0f}   target >= {TARGET_ROWS_PER_S:,}   "
        f"{_verdict(rows_per_s >= TARGET_ROWS_PER_S)}"
    )
    print(
        f"  MB/s               parquet {parquet_mbs:.1f} "
        f"({median(fulls, 'bytes_written') / 2**20:.1f} MiB written), "
        f"source {source_mbs:.1f} (pg_total_relation_size)"
    )
    print(
        f"  peak RSS           {peak_mib:7.1f} MiB (+{peak_mib - _mib(base_kib):.1f} over the "
        f"{_mib(base_kib):.1f} MiB baseline)   target < {TARGET_PEAK_MIB} MiB   "
        f"{_verdict(peak_mib < TARGET_PEAK_MIB)}"
    )
    print(
        f"  incremental sync   {inc_s:7.2f} s, {median(incs, 'rows'):,.0f} rows, "
        f"{share:.1%} of the full sync   target < {TARGET_INCREMENTAL_SHARE:.0%}   "
        f"{_verdict(share < TARGET_INCREMENTAL_SHARE)}"
    )
    print(
        f"  machine            {os.cpu_count()} cores; during a full sync PostgreSQL used "
        f"{median(fulls, 'server_cpu_seconds'):.2f} CPU s and other work kept "
        f"{median(fulls, 'other_cores'):.2f} cores busy (medians)"
    )


if __name__ == "__main__":
    main()
