"""The Dagster UI, for real: `python -m orchestration.ui` (webserver + daemon) driven by
the system Chromium through Playwright. The lineage runs from a bronze stream to a
dashboard, a materialization launched from the UI succeeds, and a bad connections file
shows in the code location's status with its file and key."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from orchestration.settings import REPO_ROOT
from tests.browser import chromium, desktop_page, dismiss_dagster_newsletter
from tests.ports import free_port
from tests.shared_lake import SharedDemo

pytestmark = pytest.mark.integration

ARTIFACTS = REPO_ROOT / "test-artifacts" / "dagster"
STARTUP_TIMEOUT_S = 180
RUN_TIMEOUT_S = 480  # the run syncs fx and runs dbt's tests of its source
LINEAGE = 'key:"bronze/shop/orders"+10 and 10+key:"dashboards/revenue_dashboard"'
# labels drawn in full on the nodes (long names are shortened, e.g. int_orde…_enriched)
LINEAGE_NODES = (
    "orders",
    "stg_shop__orders",
    "fct_orders",
    "daily_revenue",
    "gold_catalog",
    "revenue_dashboard",
)

WORKSPACE = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message causes { message } } }
} } } }
"""
RUNS = """
{ runsOrError { __typename ... on Runs { results { runId status assetSelection { path } } } } }
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


def _start_ui(data_dir: Path, home: Path, **env: str) -> DagsterUI:
    port = free_port()
    log = data_dir / "ui.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        # Dagster only: Superset beside it is tested in test_superset.py
        [sys.executable, "-m", "orchestration.ui", "--port", str(port), "--no-superset"],
        env={**os.environ, "DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home), **env},
        cwd=REPO_ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ui = DagsterUI(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            entry = ui.location()
            if entry and entry["loadStatus"] == "LOADED":
                return ui
        except httpx.HTTPError:
            pass
        time.sleep(1)
    _stop(ui)
    pytest.fail(f"the Dagster UI did not load in {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


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
def ui(tmp_path_factory, shared_demo: SharedDemo) -> Iterator[DagsterUI]:
    """The UI over a copy of the session's demo folder (tests/shared_lake.py), its instance
    included: what a user sees after `make demo`. Everything is synced and built there, so
    the landing sensors and the automation start nothing of their own, and the run the test
    launches does not queue behind syncs and dbt builds for the warehouse's pool."""
    data_dir = tmp_path_factory.mktemp("ui") / "data"
    settings = shared_demo.copy(shared_demo.after_second, data_dir)
    started = _start_ui(data_dir, data_dir / "dagster_home", DATAGEN_SCALE=str(settings.scale))
    yield started
    _stop(started)
    assert started.process.poll() is not None


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):
    with desktop_page(browser, ARTIFACTS) as page:
        yield page


def test_the_lineage_runs_from_a_bronze_stream_to_a_dashboard(ui, page):
    path = "/asset-groups~" + urllib.parse.quote(LINEAGE, safe="") + "/"
    page.goto(ui.url + path, wait_until="networkidle")
    dismiss_dagster_newsletter(page)
    page.get_by_text("Global asset lineage").first.wait_for()
    # the graph opens with its groups collapsed: bronze -> staging -> ... -> dashboards
    for group in ("bronze", "staging", "intermediate", "marts", "serving", "dashboards"):
        page.get_by_text(group, exact=True).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "lineage-groups.png"))
    page.keyboard.press("Alt+e")  # the graph's "Expand all groups" (its menu shortcut)
    for node in LINEAGE_NODES:
        page.get_by_text(node, exact=True).first.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "lineage.png"))


def test_a_materialization_launched_from_the_ui_succeeds(ui, page):
    page.goto(ui.url + "/assets/bronze/fx/rates", wait_until="networkidle")
    dismiss_dagster_newsletter(page)
    page.get_by_text("rates", exact=True).first.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "asset-before-materialize.png"))
    # the button's accessible name carries its icon's name ("... Materialize")
    page.get_by_role("button", name=re.compile(r"Materialize$")).first.click()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    run = None
    while time.monotonic() < deadline:
        runs = ui.graphql(RUNS)["runsOrError"]["results"]
        ours = [r for r in runs if {"path": ["bronze", "fx", "rates"]} in r["assetSelection"]]
        run = ours[0] if ours else None
        if run and run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert run is not None, "no run was launched"
    page.goto(f"{ui.url}/runs/{run['runId']}", wait_until="networkidle")
    dismiss_dagster_newsletter(page)
    page.get_by_text("Success", exact=False).first.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "materialization-run.png"))
    assert run["status"] == "SUCCESS", ui.log.read_text()[-3000:]


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
