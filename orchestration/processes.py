"""Services started in their own session (`start_new_session=True`) and stopped as a group:
`dagster dev` and gunicorn fork workers that a signal to the parent alone would orphan."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

STOP_TIMEOUT_S = 20.0


def stop_process_group(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to the process group, SIGKILL if it has not gone after `timeout` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def service_log(data_dir: Path, name: str) -> Path:
    """Where a service started by `make ui` / `make bi` writes its output (rewritten on each
    start): DATA_DIR/logs/<name>.log, never the console."""
    path = data_dir / "logs" / f"{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
