"""`make ui`: the Dagster webserver and daemon, and Superset, on 127.0.0.1; Ctrl-C stops both.

Both record into and read the persistent instance of the data folder (orchestration/instance.py),
so the UI shows what `lakehouse demo` and `lakehouse sync` ran. The servers write to
DATA_DIR/logs/dagster.log and superset.log; the console gets one block once both answer: the
URLs, where the credentials and the logs are. `dagster dev` started as a shell background job
ignores SIGINT/SIGTERM, so each service runs in its own session from here, and its whole
process group is stopped on Ctrl-C.

Dagster is started first and with as little imported as possible: its processes (code
server, webserver, daemon) take the longest, and Superset's preparation overlaps them.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestration.dbt_manifest import manifest_is_current
from orchestration.instance import dagster_home, prepare_dagster_home
from orchestration.processes import service_log, stop_process_groups
from orchestration.readiness import NotReady, dagster_ready, superset_ready, wait_until_ready
from orchestration.settings import Settings

READY_TIMEOUT_S = 300
STOP_TIMEOUT_S = 15  # below the 20 s a supervisor's stop_process_group waits for this one


def start_dagster(port: int, home: Path, log: Path) -> subprocess.Popen:
    """`dagster dev` (webserver + daemon) in its own session, its output to `log`."""
    dagster = Path(sys.executable).parent / "dagster"
    command = [
        str(dagster),
        "dev",
        "-m",
        "orchestration.definitions",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log.open("w") as sink:
        return subprocess.Popen(
            command,
            env={**os.environ, "DAGSTER_HOME": str(home)},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.ui")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DAGSTER_PORT") or 3000))
    parser.add_argument("--no-superset", action="store_true", help="start Dagster only")
    args = parser.parse_args(argv)
    started = time.monotonic()
    settings = Settings.from_env()
    home = prepare_dagster_home(dagster_home(settings))
    if not manifest_is_current():  # before the code server loads the definitions
        from orchestration.resources import ensure_dbt_manifest

        ensure_dbt_manifest()

    # SIGTERM (e.g. from a test or a supervisor) stops the services like Ctrl-C does
    signal.signal(signal.SIGTERM, _interrupt)
    dagster_log = service_log(settings.data_dir, "dagster")
    dagster_url = f"http://127.0.0.1:{args.port}"
    services = {"Dagster": start_dagster(args.port, home, dagster_log)}
    lines = [f"  Dagster   {dagster_url}", f"            log {dagster_log}"]
    checks = {"Dagster": (lambda: dagster_ready(dagster_url), services["Dagster"])}
    try:
        if not args.no_superset:
            lines += add_superset(settings, services, checks)
        try:
            wait_until_ready(checks, READY_TIMEOUT_S)
        except NotReady as exc:
            print(f"error: {exc}; see the logs:\n" + "\n".join(lines), file=sys.stderr)
            return 1
        print(
            f"Ready in {time.monotonic() - started:.1f} s (Ctrl-C stops both):\n"
            + "\n".join(lines),
            flush=True,
        )
        return services["Dagster"].wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_process_groups(list(services.values()), STOP_TIMEOUT_S)


def add_superset(settings: Settings, services: dict, checks: dict) -> list[str]:
    """Start Superset next to Dagster (its metadata prepared first when needed) and return
    the lines of the block about it. Before the first demo run there is no serving catalog
    to read, so it cannot start: the block says so, and Dagster keeps running."""
    from orchestration import bi  # imports the lake's libraries: after Dagster is on its way

    port = int(os.environ.get("SUPERSET_PORT") or bi.DEFAULT_PORT)
    url = f"http://127.0.0.1:{port}"
    log_path = service_log(settings.data_dir, "superset")
    try:
        with log_path.open("w") as log:
            process = bi.start_superset(settings, port, log=log)
    except bi.SupersetError as exc:
        return [f"  Superset  not started: {exc}"]
    services["Superset"] = process
    checks["Superset"] = (lambda: superset_ready(url), process)
    return [f"  Superset  {url}  {bi.credentials_hint(settings)}", f"            log {log_path}"]


if __name__ == "__main__":
    sys.exit(main())
