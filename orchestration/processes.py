"""Services started in their own session (`start_new_session=True`) and stopped as a group:
`dagster dev` and gunicorn fork workers that a signal to the parent alone would orphan."""

from __future__ import annotations

import os
import signal
import subprocess
import time
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


def stop_process_groups(processes: list[subprocess.Popen], timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop several groups within one `timeout`: SIGTERM to all at once, then SIGKILL to those
    still running. One after the other, a supervisor that waits as long would kill this
    process before it had stopped the last group, leaving that group orphaned."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
