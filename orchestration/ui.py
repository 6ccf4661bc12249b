"""`make ui`: the Dagster webserver and daemon on 127.0.0.1, stopped cleanly by Ctrl-C.

`dagster dev` started as a shell background job ignores SIGINT/SIGTERM, so each service
runs in its own session from here, and its whole process group is stopped on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from orchestration import bi
from orchestration.processes import stop_process_group
from orchestration.resources import ensure_dbt_manifest
from orchestration.settings import Settings

# The instance `make ui` uses. Pools: one dbt step at a time on the DuckDB file (one
# writer), one sync at a time per connection (they share its state file).
DAGSTER_YAML = """\
# written by `make ui` (orchestration/ui.py); edit freely, it is not overwritten
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def prepare_dagster_home(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    return home


def dagster_home(settings: Settings) -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster_home").resolve()


def start_dagster(port: int, home: Path) -> subprocess.Popen:
    """`dagster dev` (webserver + daemon) in its own session."""
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
    return subprocess.Popen(
        command, env={**os.environ, "DAGSTER_HOME": str(home)}, start_new_session=True
    )


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.ui")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DAGSTER_PORT") or 3000))
    parser.add_argument("--no-superset", action="store_true", help="start Dagster only")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    home = prepare_dagster_home(dagster_home(settings))
    ensure_dbt_manifest()  # before the webserver and daemon each load the definitions

    # SIGTERM (e.g. from a test or a supervisor) stops the services like Ctrl-C does
    signal.signal(signal.SIGTERM, _interrupt)
    services = [start_dagster(args.port, home)]
    try:
        print(f"Dagster UI: http://127.0.0.1:{args.port}  (Ctrl-C to stop)", flush=True)
        superset = None if args.no_superset else start_superset_beside(settings)
        if superset is not None:
            services.append(superset)
        return services[0].wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for service in reversed(services):
            stop_process_group(service)


def start_superset_beside(settings: Settings) -> subprocess.Popen | None:
    """Superset next to Dagster. Before the first demo run there is no serving catalog to
    read, so it cannot start: that is said once, and Dagster keeps running."""
    port = int(os.environ.get("SUPERSET_PORT") or bi.DEFAULT_PORT)
    url = f"http://127.0.0.1:{port}"
    process = None
    try:
        process = bi.start_superset(settings, port)
        bi.wait_until_healthy(url, process)
    except bi.SupersetError as exc:
        print(f"Superset not started: {exc}", flush=True)
        if process is not None:
            stop_process_group(process)
        return None
    credentials = bi.load_credentials(settings)
    print(
        f"Superset:  {url}  user {credentials['SUPERSET_ADMIN_USERNAME']}, password "
        f"{credentials['SUPERSET_ADMIN_PASSWORD']} (stored in {bi.credentials_file(settings)})",
        flush=True,
    )
    return process


if __name__ == "__main__":
    sys.exit(main())
