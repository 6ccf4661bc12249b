"""When a UI is ready: what `make ui` waits for, and what bench/ui_bench.py times.

Dagster has no /health route: it is ready once its webserver answers GraphQL and every
code location has loaded (before that the asset graph is empty). Superset is ready once
its /health answers 200.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping

import httpx

WORKSPACE = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
POLL_S = 0.5


class NotReady(RuntimeError):
    """A service exited, or did not become ready in time; the message names it."""


def dagster_ready(url: str) -> bool:
    try:
        response = httpx.post(f"{url}/graphql", json={"query": WORKSPACE}, timeout=5)
        response.raise_for_status()
        workspace = response.json()["data"]["workspaceOrError"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return False
    entries = workspace.get("locationEntries") or []
    return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)


def superset_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until_ready(
    checks: Mapping[str, tuple[Callable[[], bool], subprocess.Popen]], timeout: float
) -> dict[str, float]:
    """Poll every named check until all pass; return the seconds each took. Raises NotReady
    naming the service whose process exited, or those still not ready at the deadline."""
    started = time.monotonic()
    ready: dict[str, float] = {}
    while time.monotonic() - started < timeout:
        for name, (check, process) in checks.items():
            if name in ready:
                continue
            if process.poll() is not None:
                raise NotReady(f"{name} exited with {process.returncode} while starting")
            if check():
                ready[name] = time.monotonic() - started
        if len(ready) == len(checks):
            return ready
        time.sleep(POLL_S)
    waiting = ", ".join(name for name in checks if name not in ready)
    raise NotReady(f"{waiting} not ready within {timeout:.0f} s")
