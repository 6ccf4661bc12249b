"""When a UI is ready: what `make ui` waits for, and what bench/ui_bench.py times.

Dagster has no /health route: it is ready once its webserver answers GraphQL and every
code location has loaded (before that the asset graph is empty). Superset is ready once
its /health answers 200.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

WORKSPACE = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
POLL_S = 0.5


class NotReady(RuntimeError):
    """A service exited, or did not become ready in time; the message names it."""


def _get(url: str, body: dict | None = None) -> bytes | None:
    """The body of a 200 answer (a POST of `body` as JSON when given), else None. urllib, not
    httpx: `make ui` imports this before it starts anything, and httpx costs a second."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read() if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def dagster_ready(url: str) -> bool:
    answer = _get(f"{url}/graphql", {"query": WORKSPACE})
    try:
        workspace = json.loads(answer or b"null")["data"]["workspaceOrError"]
    except (ValueError, KeyError, TypeError):
        return False
    entries = workspace.get("locationEntries") or []
    return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)


def superset_ready(url: str) -> bool:
    return _get(f"{url}/health") is not None


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
