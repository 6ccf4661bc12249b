"""Benchmark: `dbt build` of the whole project, full and incremental, on DuckDB and PostgreSQL.

For each scale (1 = 1,000,000 orders): the sources are generated (SQLite OLTP, clickstream
and FX drops; `--data DIR` caches them per scale, so reruns skip generation until datagen's
code changes), and every
connection (shop, clickstream, fx, and crm from datagen's CRM API on loopback: the
project's crm sources must exist) is synced into a fresh local lake. Then:

1. the project is parsed once (`dbt parse`, as `make setup` does; its time is shown apart),
   then `dbt build --full-refresh` is timed (DuckDB: own warehouse file, LAKE_ROOT, target
   path). Every build is the pipeline's (orchestration/assets/dbt.py, PIPELINE_BUILD):
   models, snapshots and data tests, not dbt's unit tests, which check SQL logic on fixed
   inputs in development and CI (23 of them, about 5 s at any scale);
2. 1% of the orders change at the source (`apply_changes(fraction=0.01, deletes=False)`),
   the lake is synced incrementally, and a plain `dbt build` (the incremental path) is timed;
3. another 1% changes, the lake is synced, and `dbt build --select source_status:fresher+
   --state <the last build>` is timed with the `dbt source freshness` it needs: only what is
   downstream of the sources that changed, as a scheduler runs it every few minutes;
4. a plain `dbt build` with nothing new (no change set, no sync): what a build costs
   whatever changed (dbt's start-up and per-node work, the data tests that reconcile whole
   tables, the incremental models' lookback windows), the floor under the incremental share.

On PostgreSQL (`--postgres-scale`, 0 to skip) a throwaway server (fsync=off: not durable,
benchmark only) is started, bronze is loaded into raw_<source>.<stream> before each build
(the loader's time is shown, not counted), and the same two builds run with
`--target postgres`.

Each build reports its wall time, its nodes, and what dbt adds over the queries: the time
with at least one SQL statement running (each statement's elapsed time from dbt's JSON debug
log, SQLQueryStatus) versus the wall time, split into start-up and parsing (before the first
node), time inside nodes with no statement running (compiling, Jinja materializations,
scheduling) and teardown (node timings from run_results.json); plus the sum of the nodes'
execution_time and the slowest nodes with their own SQL time. `--repeat N` runs steps 2
to 4 N times each, steps 2 and 3 every time after their own change set. The summary
checks the targets: full build at scale 1 < 45 s, at scale 10 < 275 s; incremental
build < 15% of the full build, on the median of the repeats; it also prints the models'
share (models and snapshots, without data tests and dbt's start-up) of the full build's
models, and the unchanged build's share. Each build also reports the bytes it wrote: what
the dbt process sent to storage (Linux I/O accounting) and the silver/gold files it
created or rewrote in the lake. Ctrl-C (or SIGTERM) prints the summary of the builds done
so far. Prints figures; not a test. Usage:
    .venv/bin/python bench/dbt_bench.py [--scales 1 10] [--postgres-scale 1] [--data DIR]
                                     [--results DIR] [--wait-idle 900] [--keep]
                                     [--project-dir DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from _measure import busy_jiffies, children_cpu, postgres_server, server_jiffies

from datagen.changes import apply_changes
from datagen.generate import GenerationRequest, already_generated, generate
from datagen.volumes import Volumes
from ingestion.connections import load_connections
from ingestion.sync import sync_connection
from lake import open_lake
from orchestration.assets.dbt import PIPELINE_BUILD
from orchestration.crm_service import crm_api_running
from orchestration.settings import DBT_PROJECT_DIR, REPO_ROOT
from warehouse.postgres_raw import load_bronze_to_postgres

SEED = 42
CONNECTIONS = ("shop", "clickstream", "fx", "crm")
DBT = str(Path(sys.executable).parent / "dbt")
CHANGE_FRACTION = 0.01
TARGET_FULL_S = {1.0: 45.0, 10.0: 275.0}  # no slower than before DuckLake (issue 21)
TARGET_INCREMENTAL_SHARE = 0.15
# full; then after a 1% change, every model (incremental ones merge the change); then after
# another 1% change, only what is downstream of the changed sources; then every model again
# with nothing new: the floor under the incremental share (what a build costs whatever changed)
BUILD_KINDS = ("full", "incremental", "changed", "unchanged")
SLOWEST = 5
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "1GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "4GB",
}
_started = time.perf_counter()
project_dir = DBT_PROJECT_DIR  # --project-dir: benchmark a variant of the project


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _started:7.1f} s] {message}", flush=True)


# -- machine load ------------------------------------------------------------------------------
def wait_until_idle(limit_s: float) -> None:
    """Wait (polling every 20 s, at most limit_s) until no pytest process is running."""
    deadline = time.monotonic() + limit_s
    while True:
        found = subprocess.run(["pgrep", "-af", "pytest"], capture_output=True, text=True)
        others = [line for line in found.stdout.splitlines() if line.split()[0] != str(os.getpid())]
        if not others:
            say("no pytest running")
            return
        if time.monotonic() >= deadline:
            say(f"pytest still running after {limit_s:.0f} s; measuring anyway: {others[0]}")
            return
        say(f"waiting for {len(others)} pytest process(es) to finish")
        time.sleep(20)


# -- a throwaway PostgreSQL server --------------------------------------------------------------
@contextmanager
def bench_postgres_server() -> Iterator[tuple[str, Path]]:
    """A server in a temporary folder, removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="dbt-bench-pg-"))
    try:
        with postgres_server(workdir, SERVER_SETTINGS) as server:
            yield server
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def pg_env(dsn: str) -> dict[str, str]:
    url = urlsplit(dsn)
    return {
        "DBT_PG_HOST": url.hostname or "127.0.0.1",
        "DBT_PG_PORT": str(url.port or 5432),
        "DBT_PG_USER": url.username or "postgres",
        "DBT_PG_PASSWORD": url.password or "",
        "DBT_PG_DATABASE": url.path.lstrip("/"),
    }


# -- sources and lake --------------------------------------------------------------------------
@dataclass
class Sources:
    scale: float
    oltp_dsn: str  # a private copy: the change set writes to it
    landing: Path
    lake_dir: Path


def generator_fingerprint() -> str:
    """A hash of datagen's code: a cache written by another version of the generator (other
    volumes, other distributions) is generated again, not benchmarked."""
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "datagen").rglob("*.py")):
        digest.update(path.relative_to(REPO_ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def prepare_sources(scale: float, work: Path, cache: Path | None) -> Sources:
    """Generated sources for the scale (from the cache when it holds them) and an empty lake."""
    home = (cache / f"scale-{scale:g}") if cache else work
    home.mkdir(parents=True, exist_ok=True)
    request = GenerationRequest(scale, SEED, f"sqlite:///{home / 'shop.db'}", str(home / "landing"))
    volumes = Volumes.for_scale(scale)
    generator, fingerprint = home / "generator.sha256", generator_fingerprint()
    if cache and already_generated(request) and _read(generator) == fingerprint:
        say(f"scale {scale:g}: sources cached in {home}")
    else:
        say(f"scale {scale:g}: generating {volumes.orders:,} orders, {volumes.events:,} events")
        generator.unlink(missing_ok=True)
        result = generate(request)
        generator.write_text(fingerprint)  # which datagen wrote the cache
        say(f"scale {scale:g}: generated in {result.seconds:.1f} s")
    oltp = work / "shop.db"
    if home != work:
        for suffix in ("", "-wal", "-shm"):
            if (home / f"shop.db{suffix}").exists():
                shutil.copy(home / f"shop.db{suffix}", work / f"shop.db{suffix}")
    return Sources(scale, f"sqlite:///{oltp}", Path(request.landing_dir), work / "lake")


def sync_all(sources: Sources, label: str) -> None:
    """Sync every connection into the lake (the CRM API must be running: CRM_API_*)."""
    env = {
        **os.environ,
        "OLTP_DSN": sources.oltp_dsn,
        "LANDING_URL": str(sources.landing),
        "SHOP_SOURCE": "sql",
    }
    connections = load_connections(REPO_ROOT / "connections.yml", env).connections
    lake = open_lake(str(sources.lake_dir))
    parts = []
    started = time.perf_counter()
    for name in CONNECTIONS:
        t0 = time.perf_counter()
        result = sync_connection(lake, name, connections[name])
        if result.status != "succeeded":
            sys.exit(f"sync {name} failed: {result.error}")
        rows = sum(s.rows_written for s in result.streams)
        parts.append(f"{name} {rows:,} rows {time.perf_counter() - t0:.1f} s")
    say(f"{label} sync in {time.perf_counter() - started:.1f} s: {'; '.join(parts)}")


# -- dbt ---------------------------------------------------------------------------------------
@dataclass
class Build:
    engine: str
    scale: float
    kind: str  # full | incremental | changed | unchanged
    wall: float
    results: list[dict]
    elapsed: float  # dbt's own elapsed_time
    dbt_cpu: float
    server_cpu: float
    other_cores: float
    steal: float  # share of CPU time the hypervisor took away
    load_before: float
    t0: float  # epoch seconds at the start of the process
    t1: float
    freshness: float = 0.0  # `dbt source freshness` run before a `changed` build (counted)
    written: int = 0  # bytes the dbt process sent to storage (Linux I/O accounting)
    lake_written: int = 0  # bytes of the silver/gold files this build created or rewrote
    lake_files: int = 0
    breakdown: dict[str, float] = field(default_factory=dict)
    node_sql: dict[str, float] = field(default_factory=dict)  # SQL seconds per node

    @property
    def problems(self) -> dict[str, int]:
        """Nodes that did not pass, by status (error, fail, skipped, warn)."""
        counts: dict[str, int] = {}
        for r in self.results:
            if r["status"] not in ("success", "pass", "no-op"):
                counts[r["status"]] = counts.get(r["status"], 0) + 1
        return counts

    @property
    def model_time(self) -> float:
        """The models' and snapshots' execution_time: the build's work without its data tests
        and without dbt's start-up and teardown."""
        return sum(
            r.get("execution_time") or 0.0
            for r in self.results
            if r["unique_id"].split(".")[0] in ("model", "snapshot")
        )

    @property
    def nodes(self) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for r in self.results:
            kind = r["unique_id"].split(".")[0]
            kinds[kind] = kinds.get(kind, 0) + 1
        return kinds


def _phase(result: dict, name: str) -> tuple[float, float] | None:
    for timing in result.get("timing") or []:
        if timing["name"] == name and timing.get("started_at") and timing.get("completed_at"):
            start = datetime.fromisoformat(timing["started_at"]).timestamp()
            return start, datetime.fromisoformat(timing["completed_at"]).timestamp()
    return None


def _union(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def sql_statements(log_file: Path) -> list[tuple[str, float, float]]:
    """(node, start, end) of every SQL statement dbt ran, from its JSON debug log
    (SQLQueryStatus: the statement's elapsed time, logged when it ends)."""
    statements = []
    for line in log_file.read_text().splitlines():
        if '"SQLQueryStatus"' not in line:
            continue
        event = json.loads(line)
        if event["info"]["name"] != "SQLQueryStatus":
            continue
        end = datetime.fromisoformat(event["info"]["ts"]).timestamp()
        elapsed = float(event["data"].get("elapsed") or 0.0)
        node = (event["data"].get("node_info") or {}).get("unique_id") or ""
        statements.append((node, end - elapsed, end))
    return statements


def analyse(build: Build, statements: list[tuple[str, float, float]]) -> None:
    """Split the wall time into the SQL (at least one statement running) and what dbt adds."""
    spans = [p for r in build.results for name in ("compile", "execute") if (p := _phase(r, name))]
    if not spans:
        return
    first = min(a for a, _ in spans)
    last = max(b for _, b in spans)
    sql = _union([(a, b) for _, a, b in statements])
    executes = [p for r in build.results if (p := _phase(r, "execute"))]
    for node, a, b in statements:
        build.node_sql[node] = build.node_sql.get(node, 0.0) + (b - a)
    build.breakdown = {
        "sql": sql,
        "statements": len(statements),
        "sum_sql": sum(b - a for _, a, b in statements),
        "startup": max(first - build.t0, 0.0),  # interpreter, parse, manifest, cache
        "nodes_outside_sql": max((last - first) - sql, 0.0),  # compile, Jinja, scheduling
        "teardown": max(build.t1 - last, 0.0),  # run_results, closing connections
        "execute_phases": _union(executes),
        "sum_execution_time": sum(r.get("execution_time") or 0.0 for r in build.results),
    }


def dbt_build(
    engine: str,
    scale: float,
    kind: str,
    work: Path,
    env: dict[str, str],
    datadir: Path | None,
    results_dir: Path | None,
    round_label: str = "",
) -> Build:
    command = [
        *dbt_command(list(PIPELINE_BUILD), engine, work, log_name=kind + round_label),
        "--log-format-file",
        "json",
        "--log-level-file",
        "debug",
    ]
    if kind == "full":
        command.append("--full-refresh")
    if kind == "changed":
        # what a scheduler runs every few minutes: only the models downstream of sources
        # with newer data than at the last build (dbt's source_status selector)
        command += ["--select", "source_status:fresher+", "--state", str(work / f"state-{engine}")]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    clean["DBT_LOG_FILE_MAX_BYTES"] = "0"  # one log file: every statement's time is in it
    tick = os.sysconf("SC_CLK_TCK")
    load0 = os.getloadavg()[0]
    busy0, total0, steal0 = busy_jiffies()
    server0, cpu0 = server_jiffies(datadir), children_cpu()
    t0, started = time.time(), time.perf_counter()
    freshness = 0.0
    if kind == "changed":  # counted: the selection needs the sources' freshness now
        source_freshness(engine, work, {**clean, **env})
        freshness = time.perf_counter() - started
    lake_before = layer_files(Path(env["LAKE_ROOT"])) if "LAKE_ROOT" in env else {}
    blocks0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock
    done = subprocess.run(
        command, cwd=project_dir, env={**clean, **env}, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    # ru_oublock counts 512-byte units on Linux (the write_bytes of /proc/<pid>/io)
    written = (resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock - blocks0) * 512
    lake_after = layer_files(Path(env["LAKE_ROOT"])) if "LAKE_ROOT" in env else {}
    changed = [size for path, (size, mtime) in lake_after.items()
               if lake_before.get(path) != (size, mtime)]  # fmt: skip
    t1 = time.time()
    busy1, total1, steal1 = busy_jiffies()
    dbt_cpu = children_cpu() - cpu0
    server = (server_jiffies(datadir) - server0) / tick
    cores = os.cpu_count() or 1
    busy = cores * (busy1 - busy0) / max(total1 - total0, 1)
    run_results = work / f"target-{engine}" / "run_results.json"
    if not run_results.exists() or run_results.stat().st_mtime < t0:
        sys.exit(
            f"dbt build ({engine}, scale {scale:g}, {kind}) wrote no run_results.json:\n"
            f"{done.stdout[-5000:]}\n{done.stderr[-2000:]}"
        )
    document = json.loads(run_results.read_text())
    if results_dir:
        results_dir.mkdir(parents=True, exist_ok=True)
        name = f"{engine}-scale{scale:g}-{kind}{round_label}.json"
        shutil.copy(run_results, results_dir / name)
    build = Build(
        engine=engine,
        scale=scale,
        kind=kind,
        wall=wall,
        results=document["results"],
        elapsed=document.get("elapsed_time") or 0.0,
        dbt_cpu=dbt_cpu,
        server_cpu=server,
        other_cores=max(busy - (dbt_cpu + server) / wall, 0.0),
        steal=(steal1 - steal0) / max(total1 - total0, 1),
        load_before=load0,
        t0=t0,
        t1=t1,
        freshness=freshness,
        written=written,
        lake_written=sum(changed),
        lake_files=len(changed),
    )
    analyse(build, sql_statements(work / f"logs-{engine}-{kind}{round_label}" / "dbt.log"))
    show(build)
    return build


def layer_files(lake: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file of the dbt-built layers in the lake (silver and gold, as
    DuckLake tables or as Parquet copies): what a build wrote is what changed here."""
    found = {}
    for layer in ("silver", "gold"):
        for path in (lake / layer).rglob("*"):
            if path.is_file():
                stat = path.stat()
                found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


def dbt_command(verb: list[str], engine: str, work: Path, log_name: str) -> list[str]:
    """A dbt command on the benchmarked project, with the engine's own target folder."""
    return [
        DBT,
        *verb,
        "--target",
        "postgres" if engine == "postgres" else "duckdb",
        "--profiles-dir",
        str(project_dir),
        "--project-dir",
        str(project_dir),
        "--target-path",
        str(work / f"target-{engine}"),
        "--log-path",
        str(work / f"logs-{engine}-{log_name}"),
    ]


def source_freshness(engine: str, work: Path, env: dict[str, str]) -> None:
    """`dbt source freshness` into the engine's target folder (sources.json); a stale source
    only makes dbt exit non-zero, the file is written all the same."""
    subprocess.run(
        dbt_command(["source", "freshness"], engine, work, log_name="freshness"),
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
    )
    if not (work / f"target-{engine}" / "sources.json").exists():
        sys.exit(f"dbt source freshness ({engine}) wrote no sources.json")


def parse_project(engine: str, work: Path, env: dict[str, str]) -> None:
    """`dbt parse` into the engine's target folder, as `make setup` does for the project: the
    builds then start from dbt's partial-parse state, like every build the pipeline runs.
    Timed apart (a cold parse happens once per checkout or project change)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    started = time.perf_counter()
    done = subprocess.run(
        dbt_command(["parse"], engine, work, log_name="parse"),
        cwd=project_dir,
        env={**clean, **env},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"dbt parse ({engine}) failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    say(f"dbt parse ({engine}, cold, not counted in the builds): "
        f"{time.perf_counter() - started:.1f} s")  # fmt: skip


def save_state(engine: str, work: Path, env: dict[str, str]) -> None:
    """The artifacts of the build just done, with the sources' freshness as of now: what the
    next `source_status:fresher+` selection compares against (not timed)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    source_freshness(engine, work, {**clean, **env})
    state = work / f"state-{engine}"
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(work / f"target-{engine}", state)


def _name(unique_id: str) -> str:
    parts = unique_id.split(".")
    return f"{parts[0]} {'.'.join(parts[2:])}"


def show(b: Build) -> None:
    nodes = ", ".join(f"{n} {k}" for k, n in sorted(b.nodes.items()))
    say(
        f"{b.engine} scale {b.scale:g} {b.kind} build: {b.wall:.1f} s wall "
        f"({len(b.results)} nodes: {nodes})"
    )
    d = b.breakdown
    if d:
        added = b.wall - d["sql"]
        print(
            f"    SQL running {d['sql']:.1f} s ({d['statements']:,} statements, "
            f"{d['sum_sql']:.1f} s summed over 2 threads); dbt adds {added:.1f} s "
            f"({added / b.wall:.0%} of wall): start-up+parse {d['startup']:.1f} s"
            + (f" (of which dbt source freshness {b.freshness:.1f} s)" if b.freshness else "")
            + ", "
            f"in nodes outside SQL (compile, Jinja, scheduling) {d['nodes_outside_sql']:.1f} s, "
            f"teardown {d['teardown']:.1f} s",
            flush=True,
        )
        print(
            f"    nodes executing {d['execute_phases']:.1f} s; sum of node execution_time "
            f"{d['sum_execution_time']:.1f} s; dbt elapsed_time {b.elapsed:.1f} s",
            flush=True,
        )
    print(
        f"    wrote {b.written / 1e6:,.1f} MB to storage (dbt process); silver/gold files "
        f"created or rewritten: {b.lake_files:,} ({b.lake_written / 1e6:,.1f} MB)",
        flush=True,
    )
    print(
        f"    cpu: dbt process {b.dbt_cpu:.1f} s"
        + (f", postgres {b.server_cpu:.1f} s" if b.engine == "postgres" else "")
        + f"; other work {b.other_cores:.2f} cores; steal {b.steal:.0%}; "
        f"load before {b.load_before:.2f}",
        flush=True,
    )
    for r in b.results:
        if r["status"] in ("error", "fail"):
            message = " ".join(str(r.get("message") or "").split())[:200]
            print(f"    {r['status'].upper()}: {_name(r['unique_id'])}: {message}", flush=True)
    if b.problems:
        print(f"    NOT GREEN: {b.problems}", flush=True)
    slowest = sorted(b.results, key=lambda r: r.get("execution_time") or 0.0, reverse=True)
    for r in slowest[:SLOWEST]:
        sql = b.node_sql.get(r["unique_id"], 0.0)
        print(
            f"      {r['execution_time']:7.2f} s (SQL {sql:6.2f} s)  {_name(r['unique_id'])}",
            flush=True,
        )


# -- the benchmark -----------------------------------------------------------------------------
def load_postgres(sources: Sources, dsn: str) -> None:
    started = time.perf_counter()
    loaded = load_bronze_to_postgres(open_lake(str(sources.lake_dir)), dsn)
    rows = sum(loaded.values())
    say(f"loaded bronze into PostgreSQL: {rows:,} rows, {len(loaded)} tables, "
        f"{time.perf_counter() - started:.1f} s (not timed as dbt)")  # fmt: skip


def run_scale(
    scale: float,
    engines: list[str],
    root: Path,
    cache: Path | None,
    results_dir: Path | None,
    stack: ExitStack,
    pg: dict[str, tuple[str, Path]],
    builds: list[Build],
    repeats: int,
) -> None:
    """Full then incremental builds of one scale on each engine, appended to builds: each kind
    but the full build `repeats` times, each time after its own change set."""
    work = root / f"scale-{scale:g}"
    work.mkdir()
    sources = prepare_sources(scale, work, cache)
    duck_env = {
        "LAKE_ROOT": str(sources.lake_dir),
        "DUCKDB_PATH": str(work / "warehouse.duckdb"),
        "LAKE_CATALOG": f"sqlite:{work / 'lake.sqlite'}",  # the lake's DuckLake (docs/lake.md)
    }
    with crm_api_running(scale, SEED):
        sync_all(sources, "full")
        # the full build once, then each incremental kind `repeats` times, labelled by round
        steps = [("full", "")] + [
            (kind, f"-{n + 1}" if repeats > 1 else "")
            for kind in BUILD_KINDS
            if kind != "full"
            for n in range(repeats)
        ]
        for kind, label in steps:
            if kind in ("incremental", "changed"):
                change = apply_changes(
                    sources.oltp_dsn, fraction=CHANGE_FRACTION, seed=SEED, deletes=False
                )
                say(f"change set: {change.inserted:,} orders inserted, {change.updated:,} updated")
                sync_all(sources, "incremental")
            for engine in engines:
                env, datadir = dict(duck_env), None
                if engine == "postgres":
                    if "dsn" not in pg:
                        pg["dsn"] = stack.enter_context(bench_postgres_server())
                        settings = ", ".join(f"{k}={v}" for k, v in SERVER_SETTINGS.items())
                        say(f"PostgreSQL 15 throwaway server ({settings}; not durable)")
                    dsn, datadir = pg["dsn"]
                    load_postgres(sources, dsn)
                    env = {**pg_env(dsn), "DUCKDB_PATH": str(work / "unused.duckdb")}
                if kind == "full":
                    parse_project(engine, work, env)
                builds.append(
                    dbt_build(engine, scale, kind, work, env, datadir, results_dir, label)
                )
                save_state(engine, work, env)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def summary(builds: list[Build]) -> None:
    """One line per build, then per incremental kind the medians the targets are checked on:
    the wall time's share of the full build's, and the models' (models and snapshots, without
    data tests and dbt's start-up) share of the full build's models; for the unchanged
    builds, the median share with no target (the floor under the others)."""
    print(f"\nsummary ({os.cpu_count()} cores; load average now "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}):")  # fmt: skip
    header = f"  {'engine':<9}{'scale':>6} {'build':<12}{'wall':>8} {'nodes':>6} "
    print(header + f"{'SQL':>8} {'dbt adds':>9} {'written':>10} {'lake files':>11}  target")
    fulls = {(b.engine, b.scale): b for b in builds if b.kind == "full"}
    repeated: dict[tuple[str, float, str], list[Build]] = {}
    for b in builds:
        d = b.breakdown
        added = b.wall - d.get("sql", 0.0)
        line = (
            f"  {b.engine:<9}{b.scale:>6g} {b.kind:<12}{b.wall:7.1f}s {len(b.results):>6} "
            f"{d.get('sql', 0.0):7.1f}s {added:7.1f}s {b.written / 1e6:8.1f}MB "
            f"{b.lake_written / 1e6:9.1f}MB  "
        )
        if b.kind == "full":
            target = TARGET_FULL_S.get(b.scale)
            line += f"< {target:.0f} s  {verdict(b.wall < target)}" if target else "(no target)"
        else:
            repeated.setdefault((b.engine, b.scale, b.kind), []).append(b)
            full = fulls.get((b.engine, b.scale))
            share = b.wall / full.wall if full else float("nan")
            line += f"{share:.1%} of full"
        if b.problems:
            line += f"  (not green: {b.problems})"
        print(line)
    for (engine, scale, kind), runs in repeated.items():
        full = fulls.get((engine, scale))
        if not full:
            continue
        wall = statistics.median(b.wall for b in runs)
        models = statistics.median(b.model_time for b in runs)
        share = wall / full.wall
        if kind == "unchanged":
            print(
                f"  {engine} scale {scale:g} with nothing new, median of {len(runs)}: "
                f"{wall:.1f} s, {share:.1%} of full: the floor under the incremental share "
                f"(dbt's start-up and per-node work, reconciliations of whole tables, "
                f"lookbacks); its models and snapshots {models:.1f} s"
            )
            continue
        print(
            f"  {engine} scale {scale:g} {kind}, median of {len(runs)}: {wall:.1f} s, "
            f"{share:.1%} of full; < {TARGET_INCREMENTAL_SHARE:.0%}  "
            f"{verdict(share < TARGET_INCREMENTAL_SHARE)}; models and snapshots "
            f"{models:.1f} s, {models / full.model_time:.1%} of the full build's "
            f"{full.model_time:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0], help="DuckDB scales")
    parser.add_argument(
        "--postgres-scale", type=float, default=1.0, help="the PostgreSQL scale (0: skip)"
    )
    parser.add_argument("--data", type=Path, help="cache of generated sources, per scale")
    parser.add_argument("--results", type=Path, help="keep each build's run_results.json here")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait (at most this long) until no pytest process runs",
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=DBT_PROJECT_DIR,
        help="the dbt project (and its profile) to build (default: the repository's)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="incremental, changed and unchanged builds per scale, the first two each after "
        "its own 1%% change set: the summary checks the target on their median (default 1)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    global project_dir
    project_dir = args.project_dir.resolve()

    if args.wait_idle:
        wait_until_idle(args.wait_idle)
    plan: dict[float, list[str]] = {scale: ["duckdb"] for scale in args.scales}
    if args.postgres_scale:
        plan.setdefault(args.postgres_scale, []).append("postgres")
    print(
        f"dbt build benchmark of {project_dir}: {os.cpu_count()} cores; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; plan "
        + ", ".join(f"scale {s:g}: {' + '.join(e)}" for s, e in plan.items()),
        flush=True,
    )
    root = Path(tempfile.mkdtemp(prefix="dbt-bench-"))
    builds: list[Build] = []
    # SIGTERM as Ctrl-C: clean up (the PostgreSQL server, the folder) and print the summary
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with ExitStack() as stack:
            pg: dict[str, tuple[str, Path]] = {}
            for scale, engines in plan.items():
                run_scale(
                    scale, engines, root, args.data, args.results, stack, pg, builds, args.repeat
                )
                if not args.keep:
                    shutil.rmtree(root / f"scale-{scale:g}", ignore_errors=True)
    except KeyboardInterrupt:
        say("interrupted: the summary covers the builds done so far")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    summary(builds)


if __name__ == "__main__":
    main()
