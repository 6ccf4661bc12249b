"""One demo data folder per test session, shared by every xdist worker: two demo runs at the
demo's defaults (the second applies a change set), and a copy of the folder as the first run
left it.

Six modules need such a folder; each used to build its own (two demos, a minute or two each
on CI's two cores). A background process builds it once: the first worker that collects a
test using `shared_demo` starts it, and goes on with other tests meanwhile; a test that
needs the folder waits for it. Tests read the folders as they are (never write into them),
or work on their own copy (`SharedDemo.copy`). A copied data folder is a whole data folder:
the DuckLake catalog stores file paths relative to the lake and every attach passes its own
data path, and the Dagster instance's settings are rewritten by the next run. Only the
serving catalog names its lake by absolute path: a copy that serves dashboards is
reattached (`serve_the_copy`).

Run as a script, this module is the builder: `python -m tests.shared_lake ROOT`."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

from datagen.generate import MARKER
from orchestration.settings import REPO_ROOT, Settings
from orchestration.summary import DemoReport

FIXTURE = "shared_demo"
BUILD_TIMEOUT_S = 1500  # two demos take 1 to 2 minutes each on a quiet CI machine


@dataclass(frozen=True)
class SharedDemo:
    after_first: Path  # the data folder as the first demo left it
    after_second: Path  # after the second (the change set, incremental syncs and merges)
    first: DemoReport
    second: DemoReport

    def copy(self, which: Path, destination: Path) -> Settings:
        """A copy of one of the folders that a test may change: the settings of a demo there."""
        shutil.copytree(which, destination, symlinks=True)
        settings = Settings.from_env({"DATA_DIR": str(destination)})
        # the generator's marker names the folder it wrote: the copy's, or the next demo
        # would generate the sources again instead of changing them
        marker = Path(settings.landing_url) / MARKER
        generated = json.loads(marker.read_text())
        generated["request"].update(oltp_dsn=settings.oltp_dsn, landing_dir=settings.landing_url)
        marker.write_text(json.dumps(generated))
        return settings


def serve_the_copy(settings: Settings) -> None:
    """Point a copied folder's serving catalog at the copy's lake (the same publication)."""
    from lake import open_lake
    from serving.duckdb_catalog import reattach

    lake = open_lake(settings.lake_url, create=False)
    reattach(lake, settings.serving_dir, settings.table_catalog(lake.uri()))


# -- where it is built, and by whom ---------------------------------------------------------
def _session_root(config: pytest.Config) -> Path:
    """The session's temporary folder: the controller's, shared by the xdist workers (each
    worker's own folder is a subfolder named after it)."""
    base = config._tmp_path_factory.getbasetemp()  # the tmp_path fixtures' factory
    return (base.parent if hasattr(config, "workerinput") else base) / "shared-demo"


def start_if_needed(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the builder once per session, if a collected test needs the folder."""
    if not any(FIXTURE in getattr(item, "fixturenames", ()) for item in items):
        return
    root = _session_root(config)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / "builder.pid").exists():
            return
        log = open(root / "builder.log", "w")  # noqa: SIM115  (the child writes it)
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.shared_lake", str(root)],
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stopped with its children at the session's end
        )
        (root / "builder.pid").write_text(str(process.pid))


def stop_builder(config: pytest.Config) -> None:
    """At the end of the session (the controller): a builder still running is stopped."""
    if hasattr(config, "workerinput"):
        return
    pid_file = _session_root(config) / "builder.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running: not gone, and not a zombie (the worker that started it never waits on it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture(scope="session")
def shared_demo(request: pytest.FixtureRequest) -> SharedDemo:
    return wait_for_build(_session_root(request.config))


def wait_for_build(root: Path, timeout: float = BUILD_TIMEOUT_S) -> SharedDemo:
    """The folders once built; a failed or vanished builder fails the test at once, with
    the end of its log."""
    deadline = time.monotonic() + timeout
    log = root / "builder.log"
    while True:
        if (root / "ready.json").exists():
            reports = json.loads((root / "ready.json").read_text())
            return SharedDemo(
                root / "after-first",
                root / "data",
                DemoReport.from_json(reports["first"]),
                DemoReport.from_json(reports["second"]),
            )
        pid_file = root / "builder.pid"
        ended = pid_file.exists() and not _alive(int(pid_file.read_text()))
        if (root / "failed").exists() or ended:
            time.sleep(1)  # it may have written ready.json as it ended
            if not (root / "ready.json").exists():
                pytest.fail(f"the shared demo folder failed to build:\n{log.read_text()[-6000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"the shared demo folder was not built in {timeout:.0f} s ({log})")
        time.sleep(1)


# -- the builder ------------------------------------------------------------------------------
def build(root: Path) -> None:
    from orchestration.demo import run_demo

    data = root / "data"
    settings = Settings.from_env({"DATA_DIR": str(data)})  # the demo's scale and seed
    first = run_demo(settings, quiet=True)
    _require_green(first, "first")
    shutil.copytree(data, root / "after-first", symlinks=True)
    second = run_demo(settings, quiet=True)  # applies the change set first
    assert second.stages[0][0] == "apply a change set to the shop", second.stages
    _require_green(second, "second")
    reports = {"first": first.to_json(), "second": second.to_json()}  # as the demo keeps them
    temporary = root / "ready.json.tmp"
    temporary.write_text(json.dumps(reports))
    temporary.replace(root / "ready.json")


def _require_green(report: DemoReport, which: str) -> None:
    if report.dbt.get("failures") or report.failed_steps:
        raise SystemExit(
            f"the {which} demo failed: {report.failed_steps} {report.dbt.get('failures')} "
            f"(log: {report.log_path})"
        )


if __name__ == "__main__":
    try:
        build(Path(sys.argv[1]))
    except BaseException:
        traceback.print_exc()
        (Path(sys.argv[1]) / "failed").touch()  # the waiting tests stop waiting
        raise
