"""Services started in their own session (`start_new_session=True`) and stopped as a group:
`dagster dev` and gunicorn fork workers that a signal to the parent alone would orphan."""

from __future__ import annotations

import os
import signal
import subprocess

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
