"""`make ui`: the Dagster webserver and daemon on 127.0.0.1, stopped cleanly by Ctrl-C.

`dagster dev` started as a shell background job ignores SIGINT/SIGTERM, so it runs in its
own session from here and the whole process group is stopped on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from orchestration.resources import ensure_dbt_manifest
from orchestration.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.ui")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DAGSTER_PORT") or 3000))
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    home = Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    ensure_dbt_manifest()
    dagster = Path(sys.executable).parent / "dagster"
    command = [
        str(dagster),
        "dev",
        "-m",
        "orchestration.definitions",
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
    ]
    print(f"Dagster UI: http://127.0.0.1:{args.port}  (Ctrl-C to stop)")
    process = subprocess.Popen(
        command, env={**os.environ, "DAGSTER_HOME": str(home)}, start_new_session=True
    )
    try:
        return process.wait()
    except KeyboardInterrupt:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        return 0


if __name__ == "__main__":
    sys.exit(main())
