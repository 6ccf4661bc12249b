"""The Dagster UI with a bad connections file, for real: the webserver driven by the system
Chromium through Playwright shows the code location's status with the file and the key. The
lineage from a bronze stream to a dashboard and a materialization launched from the UI are
tested on `make ui`'s Dagster (tests/test_make_ui.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from orchestration.settings import REPO_ROOT
from tests.browser import chromium, desktop_page, dismiss_dagster_newsletter
from tests.ports import free_port

pytestmark = pytest.mark.integration

ARTIFACTS = REPO_ROOT / "test-artifacts" / "dagster"
STARTUP_TIMEOUT_S = 180
WORKSPACE = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message causes { message } } }
} } } }
"""


@dataclass
class DagsterUI:
    url: str
    process: subprocess.Popen
    log: Path

    def graphql(self, query: str) -> dict:
        response = httpx.post(f"{self.url}/graphql", json={"query": query}, timeout=30)
        response.raise_for_status()
        return response.json()["data"]

    def location(self) -> dict | None:
        data = self.graphql(WORKSPACE)["workspaceOrError"]
        entries = data.get("locationEntries") or []
        return entries[0] if entries else None


def _stop(ui: DagsterUI) -> None:
    """SIGTERM to the UI's session (orchestration.ui stops dagster dev's own group)."""
    if ui.process.poll() is None:
        os.killpg(ui.process.pid, signal.SIGTERM)
        try:
            ui.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(ui.process.pid, signal.SIGKILL)
            ui.process.wait()


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):
    with desktop_page(browser, ARTIFACTS) as page:
        yield page


def test_a_bad_connections_file_shows_in_the_code_location_status(tmp_path, page):
    connections = yaml.safe_load((REPO_ROOT / "connections.yml").read_text())
    connections["connections"]["fx"]["streams"][0]["format"] = "xlsx"
    bad = tmp_path / "bad-connections.yml"
    bad.write_text(yaml.safe_dump(connections))

    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    dagster = str(Path(sys.executable).parent / "dagster-webserver")
    log = tmp_path / "webserver.log"
    process = subprocess.Popen(
        [dagster, "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "CONNECTIONS_FILE": str(bad), "DAGSTER_HOME": str(home)},
        cwd=REPO_ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ui = DagsterUI(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline, entry = time.monotonic() + STARTUP_TIMEOUT_S, None
        while time.monotonic() < deadline:
            try:
                entry = ui.location()
                if entry and entry["loadStatus"] == "LOADED":
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert entry is not None, log.read_text()[-3000:]
        error = entry["locationOrLoadError"]
        assert error["__typename"] == "PythonError"
        # Dagster wraps the loader's error; the cause is our message, unchanged
        messages = "\n".join([error["message"], *(c["message"] for c in error["causes"])])
        assert str(bad) in messages
        assert "connections.fx.streams[0].format" in messages

        page.goto(f"{ui.url}/deployment/locations", wait_until="networkidle")
        dismiss_dagster_newsletter(page)
        page.get_by_text("Failed", exact=False).first.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "bad-connections-location.png"))
    finally:
        _stop(ui)
        shutil.rmtree(home, ignore_errors=True)
