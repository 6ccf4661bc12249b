"""Benchmark: a PostgreSQL table to bronze Parquet through the sync engine, beside the others.

A throwaway PostgreSQL server (fsync=off, wal_level=logical) gets a table of 10 mixed
columns filled with generate_series. In rounds whose order rotates (a slow spell of the
shared machine hits every contender), the same table is read by: our full sync (an
incremental append_dedup stream, cursor updated_at, empty lake), the same with
parallel_reads 2, ConnectorX's streaming reader writing the same Parquet, and psql's
COPY (SELECT ...) TO STDOUT > /dev/null in text and binary format (the floor). Then our
Parquet is compared with ConnectorX's (rows, null counts, sums of numeric columns, Arrow
types), the incremental sync is timed after 1% of the rows changed, and the CDC source's
changes per second after every row of a table of --cdc-rows rows was updated, beside the
server's own logical decoding of the same slot. Every measured run is a fresh child
process, so its peak RSS is its own. Prints medians, ratios per round, the load average
and the targets passed or missed; not a test. Usage:
    .venv/bin/python bench/ingest_bench.py [--rows 5000000] [--repeat 3] [--cdc-rows 1000000]
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

from _cdc import (
    CDC_CONNECTION,
    CDC_TABLE,
    UPDATE_CHUNK,
    cdc_connection,
    create_cdc_table,
    decode_floor,
    update_every_row,
)
from _measure import busy_jiffies, children_cpu, pg_bindir, postgres_server, server_jiffies
from _parity import differences, profile

TABLE = "bench_orders"
CONNECTION = "bench"
CONNECTION_PARALLEL = "bench_parallel"
OURS = "ours (lakehouse sync)"
PARALLEL = "ours, parallel_reads 2"
TARGET_ROWS_PER_S = 700_000
TARGET_PEAK_MIB = 400
TARGET_INCREMENTAL_SHARE = 0.05
TARGET_CDC_CHANGES_PER_S = 100_000
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "4GB",
    "maintenance_work_mem": "256MB",
    "wal_level": "logical",  # for the CDC figure
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


def write_connections(path: Path, dsn: str, checksum: bool, cdc: bool) -> None:
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
    document: dict = {"connections": {}}
    # the same stream read by two connections: what parallel range reads gain
    # (its incremental syncs also show the cost of the hard-delete pass: off there)
    for name, parallel in ((CONNECTION, None), (CONNECTION_PARALLEL, 2)):
        config = {"dsn": dsn} if parallel is None else {"dsn": dsn, "parallel_reads": parallel}
        streams = [stream if parallel is None else {**stream, "detect_deletes": False}]
        document["connections"][name] = {"source": "sql", "config": config, "streams": streams}
    if cdc:
        document["connections"][CDC_CONNECTION] = cdc_connection(dsn)
    path.write_text(json.dumps(document))  # JSON is YAML


# -- the measured children ------------------------------------------------------------------
def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    usage_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return sum(u.ru_utime + u.ru_stime for u in (usage, usage_children))


def _sync(job: dict) -> dict:
    from ingestion.connections import load_connections
    from ingestion.sync import sync_connection
    from lake.storage import open_lake

    connection = load_connections(job["connections"], os.environ).connections[job["name"]]
    lake = open_lake(job["lake"])
    cpu, started = _cpu_seconds(), time.perf_counter()
    result = sync_connection(lake, job["name"], connection)
    seconds = time.perf_counter() - started
    stream = result.streams[0]
    return {
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds() - cpu,
        "rows": stream.rows_written,
        "bytes_written": stream.bytes_written,
    }


def _connectorx(job: dict) -> dict:
    """ConnectorX's streaming reader (binary COPY, Rust) into one Parquet file, written as
    ours is (snappy, row groups of ROW_GROUP_ROWS)."""
    import connectorx as cx
    import pyarrow.parquet as pq

    from ingestion.bronze import ROW_GROUP_ROWS

    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    cpu, started = _cpu_seconds(), time.perf_counter()
    reader = cx.read_sql(
        job["dsn"],
        f"SELECT * FROM {TABLE}",
        return_type="arrow_stream",
        batch_size=job["batch"],
    )
    rows = 0
    with pq.ParquetWriter(out / "connectorx.parquet", reader.schema, compression="snappy") as w:
        for batch in reader:
            w.write_batch(batch, row_group_size=ROW_GROUP_ROWS)
            rows += batch.num_rows
    seconds = time.perf_counter() - started
    size = (out / "connectorx.parquet").stat().st_size
    return {
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds() - cpu,
        "rows": rows,
        "bytes_written": size,
    }


def _copy(job: dict) -> dict:
    """The floor: PostgreSQL's COPY of the same SELECT, thrown away by psql."""
    psql = str(pg_bindir() / "psql")
    fmt = " WITH (FORMAT binary)" if job["binary"] else ""
    sql = f"COPY (SELECT * FROM {TABLE}) TO STDOUT{fmt}"
    cpu, started = _cpu_seconds(), time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run([psql, "-X", "-q", "-d", job["dsn"], "-c", sql], stdout=sink, check=True)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds() - cpu,
        "rows": job["rows"],
        "bytes_written": 0,
    }


CHILDREN = {"sync": _sync, "connectorx": _connectorx, "copy": _copy, "import": lambda job: {}}


def child(mode: str, job_json: str) -> None:
    """Run in a fresh process: import (baseline) or one measured job; print one JSON line."""
    import adbc_driver_postgresql.dbapi  # noqa: F401  (the driver the sync loads)
    import pyarrow.parquet  # noqa: F401

    import ingestion.sync  # noqa: F401

    report = CHILDREN[mode](json.loads(job_json))
    report["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(report), flush=True)


def run_child(mode: str, job: dict, datadir: Path) -> dict:
    """Run the child; also measure what else kept the machine busy while it ran."""
    tick = os.sysconf("SC_CLK_TCK")
    busy0, total0, _ = busy_jiffies()
    server0, child0, started = server_jiffies(datadir), children_cpu(), time.perf_counter()
    load0 = os.getloadavg()[0]
    command = [sys.executable, __file__, "--child", mode, json.dumps(job)]
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
        f"  {label:<22} {r['rows']:>10,} rows  {s:7.2f} s  {r['rows'] / s:>10,.0f} rows/s  "
        f"source {source_bytes / 1e6 / s:6.1f} MB/s  peak {_mib(r['peak_rss_kib']):6.1f} MiB  "
        f"cpu: own {r['cpu_seconds']:5.2f} s, postgres {r['server_cpu_seconds']:5.2f} s  "
        f"other work {r['other_cores']:.2f} cores  load {r['load_before']:.1f}",
        flush=True,
    )


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def compare_full(args, workdir: Path, dsn: str, datadir: Path, connections: Path, size: int):
    """Ours (1 and 2 connections), ConnectorX and the COPY floors on the same table, in an
    order that rotates per round (each job moves), so a slow spell of the machine hits all."""
    jobs = {
        OURS: (
            "sync",
            lambda i: {
                "connections": str(connections),
                "name": CONNECTION,
                "lake": str(workdir / f"lake-{i}"),
            },
        ),
        PARALLEL: (
            "sync",
            lambda i: {
                "connections": str(connections),
                "name": CONNECTION_PARALLEL,
                "lake": str(workdir / f"parallel-{i}"),
            },
        ),
        "ConnectorX stream": (
            "connectorx",
            lambda i: {"dsn": dsn, "out": str(workdir / f"cx-{i}"), "batch": args.cx_batch},
        ),
        "COPY text > /dev/null": (
            "copy",
            lambda i: {"dsn": dsn, "rows": args.rows, "binary": False},
        ),
        "COPY binary > /dev/null": (
            "copy",
            lambda i: {"dsn": dsn, "rows": args.rows, "binary": True},
        ),
    }
    labels = list(jobs)
    runs: dict[str, list[dict]] = {label: [] for label in labels}
    print(f"\nfull read of {TABLE}, {args.repeat} rounds, order rotating per round:")
    for i in range(args.repeat):
        order = labels[i % len(labels) :] + labels[: i % len(labels)]
        print(f" round {i + 1} (load {_load()}):")
        for label in order:
            mode, job = jobs[label]
            runs[label].append(run_child(mode, job(i), datadir))
            _show(label, runs[label][-1], size)
            if runs[label][-1]["rows"] != args.rows:
                sys.exit(f"{label}: expected {args.rows} rows, got {runs[label][-1]['rows']}")
        if i < args.repeat - 1:  # keep the last round's outputs for the comparison
            shutil.rmtree(workdir / f"lake-{i}")
            shutil.rmtree(workdir / f"cx-{i}")
            shutil.rmtree(workdir / f"parallel-{i}")
    last = args.repeat - 1
    ours_files = sorted((workdir / f"lake-{last}" / "bronze").rglob("*.parquet"))
    ours_profile = profile(ours_files)
    found = differences(
        ours_profile, profile([workdir / f"cx-{last}" / "connectorx.parquet"]), "ConnectorX"
    )
    parallel_files = sorted((workdir / f"parallel-{last}" / "bronze").rglob("*.parquet"))
    found += differences(ours_profile, profile(parallel_files), "parallel_reads 2")
    return runs, found


def summarize_full(args, runs: dict[str, list[dict]], found: list[str], base_kib: float) -> None:
    ours = runs[OURS]
    cx = runs["ConnectorX stream"]
    floor = runs["COPY text > /dev/null"]
    print(
        f"\nsummary, medians of {args.repeat} ({args.rows:,} rows, {os.cpu_count()} cores, "
        f"load now {_load()}):"
    )
    for label, group in runs.items():
        print(
            f"  {label:<24} {_median(group, 'seconds'):7.2f} s  "
            f"{statistics.median(r['rows'] / r['seconds'] for r in group):>10,.0f} rows/s  "
            f"cpu own {_median(group, 'cpu_seconds'):5.2f} s, postgres "
            f"{_median(group, 'server_cpu_seconds'):5.2f} s  "
            f"peak {_mib(_median(group, 'peak_rss_kib')):6.1f} MiB"
        )
    # ratios per round (same conditions), then their median
    vs_cx = statistics.median(c["seconds"] / o["seconds"] for o, c in zip(ours, cx, strict=True))
    vs_copy = statistics.median(
        f["seconds"] / o["seconds"] for o, f in zip(ours, floor, strict=True)
    )
    vs_parallel = statistics.median(
        o["seconds"] / p["seconds"] for o, p in zip(ours, runs[PARALLEL], strict=True)
    )
    peak = _mib(_median(ours, "peak_rss_kib"))
    print(f"  parallel_reads 2 vs 1    {vs_parallel:5.2f}x the speed of one connection")
    print(
        f"  ours vs ConnectorX       {vs_cx:5.2f}x its speed   target >= 1.00   "
        f"{_verdict(vs_cx >= 1.0)}"
    )
    print(
        f"  ours vs the COPY floor   {vs_copy:5.2f}x its speed   target >= 0.85   "
        f"{_verdict(vs_copy >= 0.85)}"
    )
    print(
        f"  ours peak RSS            {peak:7.1f} MiB (baseline {_mib(base_kib):.1f})   "
        f"target < {TARGET_PEAK_MIB}   {_verdict(peak < TARGET_PEAK_MIB)}"
    )
    if found:
        print("  output: ours and the other Parquet outputs differ in:")
        for line in found:
            print(f"    - {line}")
    else:
        print(
            "  output: ours, ours with parallel_reads 2 and ConnectorX's agree in rows, null "
            "counts, numeric sums and Arrow types"
        )


def compare_incremental(
    args, workdir: Path, dsn: str, datadir: Path, connections: Path, size: int, full_s: float
) -> None:
    """Ours after 1% changed, with the hard-delete pass (the default) and without it (the
    parallel_reads lake, whose stream has detect_deletes off); order alternating."""
    last = args.repeat - 1
    jobs = {
        "with hard deletes": {"name": CONNECTION, "lake": str(workdir / f"lake-{last}")},
        "detect_deletes off": {
            "name": CONNECTION_PARALLEL,
            "lake": str(workdir / f"parallel-{last}"),
        },
    }
    print(f"\nincremental sync after 1% changed, {args.repeat} rounds (same lakes):")
    runs: dict[str, list[dict]] = {label: [] for label in jobs}
    for i in range(args.repeat):
        changed, update_s = change_rows(dsn)
        print(f" round {i + 1}: UPDATE of {changed:,} rows took {update_s:.2f} s (not timed)")
        for label in list(jobs)[:: 1 if i % 2 == 0 else -1]:
            job = {"connections": str(connections), **jobs[label]}
            runs[label].append(run_child("sync", job, datadir))
            _show(label, runs[label][-1], size)
            # >= the last cursor: the changed rows, plus any that share the last cursor
            if runs[label][-1]["rows"] < changed:
                sys.exit(f"changed {changed} rows but the sync wrote {runs[label][-1]['rows']}")
    for label, group in runs.items():
        share = _median(group, "seconds") / full_s
        print(
            f"  incremental, {label:<19} {_median(group, 'seconds'):7.2f} s, "
            f"{_median(group, 'rows'):,.0f} rows, {share:.1%} of the full sync, peak "
            f"{_mib(_median(group, 'peak_rss_kib')):,.0f} MiB   target < "
            f"{TARGET_INCREMENTAL_SHARE:.0%}   {_verdict(share < TARGET_INCREMENTAL_SHARE)}"
        )


def compare_cdc(args, workdir: Path, dsn: str, datadir: Path, connections: Path) -> None:
    """Changes per second of the postgres_cdc source after every row of a table was updated,
    beside the server's own decoding of the same slot (peeked, counted server-side)."""
    rows = args.cdc_rows
    create_cdc_table(dsn, TABLE, rows)
    job = {"connections": str(connections), "name": CDC_CONNECTION, "lake": str(workdir / "cdc")}
    snap = run_child("sync", job, datadir)
    print(
        f"\nCDC: {CDC_TABLE} of {rows:,} rows; first sync (slot + snapshot) "
        f"{snap['seconds']:.2f} s, {snap['rows'] / snap['seconds']:,.0f} rows/s"
    )
    ours, floors = [], []
    for i in range(args.repeat):
        update_s = update_every_row(dsn, rows, i)
        print(
            f" round {i + 1}: UPDATE of every row in {rows // UPDATE_CHUNK} transactions "
            f"took {update_s:.1f} s (not timed); load {_load()}"
        )
        steps = ["floor", "ours"] if i % 2 == 0 else ["ours", "floor"]
        for step in steps:
            if step == "floor":  # a peek: it leaves the slot where it is
                seconds, changes, size = decode_floor(dsn)
                floors.append({"seconds": seconds, "rows": changes})
                print(
                    f"  server decoding alone   {changes:>10,} changes  {seconds:7.2f} s  "
                    f"{changes / seconds:>10,.0f} changes/s  ({size / 2**20:,.0f} MiB of "
                    "pgoutput messages, counted on the server)"
                )
            else:
                ours.append(run_child("sync", job, datadir))
                r = ours[-1]
                if r["rows"] != rows:
                    sys.exit(f"CDC: updated {rows} rows but the sync wrote {r['rows']}")
                print(
                    f"  ours (lakehouse sync)   {r['rows']:>10,} changes  {r['seconds']:7.2f} s"
                    f"  {r['rows'] / r['seconds']:>10,.0f} changes/s  cpu own "
                    f"{r['cpu_seconds']:.2f} s ({r['cpu_seconds'] / r['rows'] * 1e6:.1f} us per "
                    f"change), postgres {r['server_cpu_seconds']:.2f} s  "
                    f"peak {_mib(r['peak_rss_kib']):.0f} MiB"
                )
    rate = statistics.median(r["rows"] / r["seconds"] for r in ours)
    floor_rate = statistics.median(f["rows"] / f["seconds"] for f in floors)
    cpu_rate = statistics.median(r["rows"] / r["cpu_seconds"] for r in ours)
    print(
        f"  CDC changes/s (median)  ours {rate:,.0f}, server decoding alone {floor_rate:,.0f}"
        f"   target >= {TARGET_CDC_CHANGES_PER_S:,}   "
        f"{_verdict(rate >= TARGET_CDC_CHANGES_PER_S)}"
    )
    # what one core of our own would give: the sync process is CPU-bound (pure Python
    # decoding), so on a shared machine its wall time is its CPU time stretched by the load
    print(
        f"  CDC bound               {cpu_rate:,.0f} changes per CPU second of the sync process "
        f"(the rate on a core of its own)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each measurement")
    parser.add_argument("--cx-batch", type=int, default=100_000, help="ConnectorX batch rows")
    parser.add_argument(
        "--cdc-rows",
        type=int,
        default=1_000_000,
        help="rows updated for the CDC figure (0: skip it)",
    )
    parser.add_argument("--no-incremental", action="store_true")
    parser.add_argument(
        "--checksum",
        action="store_true",
        help="also reconcile SUM(quantity) (one more aggregate over the range read)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
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
            print(f"load average before: {_load()}")
            fill = fill_table(dsn, args.rows)
            size = int(fill["total_bytes"])
            print(
                f"table {TABLE}: {args.rows:,} rows, 10 columns, {fill['seconds']:.1f} s to "
                f"fill + index + VACUUM ANALYZE; pg_total_relation_size "
                f"{size / 2**20:,.1f} MiB (heap {fill['heap_bytes'] / 2**20:,.1f} MiB); "
                f"note null {fill['note_nulls']:.0%}",
                flush=True,
            )
            connections = workdir / "connections.yml"
            write_connections(connections, dsn, args.checksum, cdc=args.cdc_rows > 0)

            baseline = run_child("import", {}, datadir)
            base_kib = baseline["peak_rss_kib"]
            print(f"\nbaseline child (imports only): peak RSS {_mib(base_kib):.1f} MiB")
            runs, found = compare_full(args, workdir, dsn, datadir, connections, size)
            summarize_full(args, runs, found, base_kib)
            if not args.no_incremental:
                full_s = _median(runs[OURS], "seconds")
                compare_incremental(args, workdir, dsn, datadir, connections, size, full_s)
            if args.cdc_rows:
                compare_cdc(args, workdir, dsn, datadir, connections)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
