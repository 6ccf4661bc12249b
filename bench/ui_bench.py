"""Time-to-ready of `make ui`: Dagster (code location loaded) and Superset (/health), twice.

    DATA_DIR=... .venv/bin/python bench/ui_bench.py [--starts 2] [--from-scratch]

Uses the data under DATA_DIR (run `lakehouse demo` into it first). Starts
`python -m orchestration.ui` on free ports `--starts` times in a row, each time until both
UIs are ready, then stops it. `--from-scratch` first deletes Superset's metadata database
and its stamp under DATA_DIR/superset, so the first start prepares them (the first `make ui`
of an installation); the dashboards are re-imported from the bundle. Prints, per start: the
seconds until each UI was ready, the CPU seconds its processes had used by then (what a
start costs whatever else the machine runs: on 2 shared cores the wall time is mostly
waiting for a core), the load average, and how many lines the command printed. Not a test.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from orchestration import bi
from orchestration.processes import stop_process_group
from orchestration.readiness import dagster_ready, superset_ready, wait_until_ready
from orchestration.settings import REPO_ROOT, Settings
from serving.duckdb_catalog import catalog_path

TIMEOUT_S = 300
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU used by a process and all its live descendants (plus the children they waited
    for, e.g. Superset's bootstrap), from /proc."""
    parents, cpu = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = sum(int(f) for f in fields[11:15]) / CLOCK_TICKS
    tree, grown = {root}, True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grown = bool(children)
    return sum(cpu.get(pid, 0.0) for pid in tree)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_one_start(settings: Settings, output: Path) -> tuple[dict[str, float], float, int]:
    dagster_port, superset_port = _free_port(), _free_port()
    env = {**os.environ, "DATA_DIR": str(settings.data_dir), "SUPERSET_PORT": str(superset_port)}
    command = [sys.executable, "-m", "orchestration.ui", "--port", str(dagster_port)]
    with output.open("w") as sink:
        process = subprocess.Popen(
            command, env=env, cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            ready = wait_until_ready(
                {
                    "dagster": (lambda: dagster_ready(f"http://127.0.0.1:{dagster_port}"), process),
                    "superset": (
                        lambda: superset_ready(f"http://127.0.0.1:{superset_port}"),
                        process,
                    ),
                },
                TIMEOUT_S,
            )
            cpu = tree_cpu_seconds(process.pid)
            # the command prints its block right after its own check: let it, to count it
            deadline = time.monotonic() + 10
            while "Ready in" not in output.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            stop_process_group(process)
    return ready, cpu, len(output.read_text().splitlines())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=2)
    parser.add_argument("--from-scratch", action="store_true")
    args = parser.parse_args()
    settings = Settings.from_env()
    if not catalog_path(settings.serving_dir).exists():  # Superset would never start
        parser.error(f"nothing published in {settings.serving_dir}: run `make demo` first")
    if args.from_scratch:
        home = bi.superset_home(settings)
        for name in ("superset.db", bi.STAMP_FILE):
            (home / name).unlink(missing_ok=True)
    print(f"make ui time-to-ready, DATA_DIR={settings.data_dir}, {os.cpu_count()} cores")
    for start in range(1, args.starts + 1):
        output = settings.data_dir / "logs" / f"ui-bench-{start}.out"
        output.parent.mkdir(parents=True, exist_ok=True)
        load = os.getloadavg()[0]
        ready, cpu, lines = time_one_start(settings, output)
        print(
            f"  start {start}: Dagster {ready['dagster']:5.1f} s, Superset "
            f"{ready['superset']:5.1f} s, both {max(ready.values()):5.1f} s; "
            f"{cpu:.1f} CPU s; load average {load:.1f}; {lines} console lines",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
