"""`make ui` after `make demo`, for real: the demo records into the data folder's persistent
Dagster instance, and `python -m orchestration.ui` (Dagster and Superset) shows it.

One data folder for the module: a copy of the session's demo folder (tests/shared_lake.py:
the two demo runs recorded there), then the UI started twice (the
second start must not prepare Superset's metadata again), the second left running for the
browser (the system Chromium through Playwright): the demo's runs and metadata, the lineage
from a bronze stream to a dashboard, and a materialization launched from the UI (last: it
adds a run). Screenshots go to test-artifacts/make-ui/.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance

from orchestration.bi import credentials_file, load_credentials, superset_executable
from orchestration.settings import REPO_ROOT, Settings
from tests.browser import chromium, desktop_page, dismiss_dagster_newsletter
from tests.ports import free_port
from tests.shared_lake import SharedDemo, serve_the_copy

pytestmark = pytest.mark.integration

ARTIFACTS = REPO_ROOT / "test-artifacts" / "make-ui"
READY_TIMEOUT_S = 360
ORDERS = AssetKey(["bronze", "shop", "orders"])
MIGRATED = "metadata database migrated"  # a step line of superset/bootstrap.py
RUNS = "{ runsOrError { ... on Runs { results { runId status } } } }"


@dataclass
class Start:
    """One `python -m orchestration.ui`: its console output and Superset's log."""

    process: subprocess.Popen
    dagster_url: str
    superset_url: str
    output: Path

    def console(self) -> str:
        return self.output.read_text()


def _start(settings: Settings, name: str) -> Start:
    dagster_port, superset_port = free_port(), free_port()
    output = settings.data_dir / f"{name}.out"
    env = {
        **os.environ,
        "DATA_DIR": str(settings.data_dir),
        "DATAGEN_SCALE": str(settings.scale),
        "SUPERSET_PORT": str(superset_port),
        "SUPERSET_WORKERS": "1",  # one client here (a health check): starts with less CPU
    }
    env.pop("DAGSTER_HOME", None)  # the data folder's instance, as for a new user
    env.pop("SUPERSET_ADMIN_PASSWORD", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.ui", "--port", str(dagster_port)],
        env=env,
        cwd=REPO_ROOT,
        stdout=output.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    start = Start(
        process,
        f"http://127.0.0.1:{dagster_port}",
        f"http://127.0.0.1:{superset_port}",
        output,
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while "Ready in" not in start.console():
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(start)
            pytest.fail(f"make ui did not get ready:\n{start.console()}")
        time.sleep(1)
    return start


def _stop(start: Start) -> None:
    if start.process.poll() is None:
        os.killpg(start.process.pid, signal.SIGTERM)
        try:
            start.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(start.process.pid, signal.SIGKILL)
            start.process.wait()


@dataclass
class Session:
    settings: Settings
    first_console: str
    first_superset_log: str
    second: Start

    @property
    def superset_log(self) -> Path:
        return self.settings.data_dir / "logs" / "superset.log"


@pytest.fixture(scope="module")
def session(tmp_path_factory, shared_demo: SharedDemo) -> Iterator[Session]:
    superset_executable("gunicorn")  # says what to run when Superset is not installed
    os.environ.pop("DAGSTER_HOME", None)
    os.environ.pop("SUPERSET_ADMIN_PASSWORD", None)
    data_dir = tmp_path_factory.mktemp("make-ui") / "data"
    settings = shared_demo.copy(shared_demo.after_second, data_dir)
    serve_the_copy(settings)
    first = _start(settings, "first")
    _stop(first)
    first_log = (data_dir / "logs" / "superset.log").read_text()
    second = _start(settings, "second")
    yield Session(settings, first.console(), first_log, second)
    _stop(second)


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):
    with desktop_page(browser, ARTIFACTS) as page:
        yield page


def _demo_record(settings: Settings):
    """The orders stream's last materialization and reconciliation, from the instance."""
    with DagsterInstance.from_config(str(settings.data_dir / "dagster_home")) as instance:
        event = instance.get_latest_materialization_event(ORDERS)
        runs = instance.get_runs()
    assert event is not None, "the demo recorded no materialization of bronze/shop/orders"
    return event, runs


# -- the persistent instance ---------------------------------------------------------------
def test_the_demo_records_its_runs_and_metadata_in_the_data_folders_instance(session):
    event, runs = _demo_record(session.settings)
    assert len(runs) >= 3  # ingest, dbt, publish
    assert all(r.is_success for r in runs), [(r.run_id, r.status) for r in runs]
    metadata = event.asset_materialization.metadata
    rows = metadata["dagster/row_count"].value
    assert rows > 0
    assert metadata["bytes"].value > 0 and metadata["files_written"].value >= 1
    assert metadata["duration_s"].value > 0


def test_the_ui_lists_the_demos_runs(session, page):
    _, runs = _demo_record(session.settings)
    listed = httpx.post(f"{session.second.dagster_url}/graphql", json={"query": RUNS}, timeout=30)
    listed_ids = {r["runId"] for r in listed.json()["data"]["runsOrError"]["results"]}
    assert {r.run_id for r in runs} <= listed_ids
    page.goto(f"{session.second.dagster_url}/runs", wait_until="networkidle")
    dismiss_dagster_newsletter(page)
    for run in runs:  # the runs table shows each run's id by its first 8 characters
        page.get_by_text(run.run_id[:8], exact=True).first.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "runs.png"))


def test_an_asset_page_shows_its_last_materialization_with_rows_and_its_check(session, page):
    event, _ = _demo_record(session.settings)
    metadata = event.asset_materialization.metadata
    rows_read, rows = metadata["rows_read"].value, metadata["dagster/row_count"].value
    page.goto(f"{session.second.dagster_url}/assets/bronze/shop/orders", wait_until="networkidle")
    dismiss_dagster_newsletter(page)
    page.get_by_text("Latest materialization", exact=True).first.wait_for(timeout=30_000)
    # the metadata table of the last materialization: key, timestamp, value
    row = page.locator("tr", has=page.get_by_text("rows_read", exact=True)).first
    row.wait_for(timeout=30_000)
    assert row.locator("td").last.inner_text().strip() == str(rows_read)
    status = page.get_by_text("Row count", exact=True).first.locator("xpath=..")
    assert f"{rows:,}" in status.inner_text()
    assert "Never materialized" not in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "asset-orders.png"), full_page=True)

    page.goto(
        f"{session.second.dagster_url}/assets/bronze/shop/orders?view=checks",
        wait_until="networkidle",
    )
    check = page.locator(
        "[class*='checkRow']", has=page.get_by_text("sync_reconciled", exact=True)
    ).first
    check.wait_for(timeout=30_000)
    assert "Succeeded" in check.inner_text(), check.inner_text()
    page.screenshot(path=str(ARTIFACTS / "asset-orders-checks.png"), full_page=True)


# -- Superset beside it: credentials and the prepared metadata ------------------------------
def test_the_password_is_kept_0600_and_never_printed(session):
    path = credentials_file(session.settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = load_credentials(session.settings)["SUPERSET_ADMIN_PASSWORD"]
    assert len(password) >= 16
    for text in (session.first_console, session.second.console()):
        assert password not in text
        assert str(path) in text  # the block says where the password is instead
    assert password not in session.first_superset_log
    assert password not in session.superset_log.read_text()


def test_the_console_gets_one_block_and_the_servers_log_to_files(session):
    console = session.second.console()
    assert session.second.dagster_url in console and session.second.superset_url in console
    assert len(console.splitlines()) <= 8, console
    dagster_log = session.settings.data_dir / "logs" / "dagster.log"
    assert "dagster" in dagster_log.read_text().lower()


def test_a_second_start_does_not_prepare_supersets_metadata_again(session):
    assert MIGRATED in session.first_superset_log  # the first start ran the bootstrap
    second_log = session.superset_log.read_text()
    assert MIGRATED not in second_log
    assert "bootstrap skipped" in second_log
    assert httpx.get(f"{session.second.superset_url}/health", timeout=10).status_code == 200


# -- the Dagster UI: the lineage, and a run launched from it ---------------------------------
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
RUNS_WITH_ASSETS = """
{ runsOrError { __typename ... on Runs { results { runId status assetSelection { path } } } } }
"""
RUN_TIMEOUT_S = 480  # the run syncs fx and runs dbt's tests of its source


def _graphql(url: str, query: str) -> dict:
    response = httpx.post(f"{url}/graphql", json={"query": query}, timeout=30)
    response.raise_for_status()
    return response.json()["data"]


def test_the_lineage_runs_from_a_bronze_stream_to_a_dashboard(session, page):
    path = "/asset-groups~" + urllib.parse.quote(LINEAGE, safe="") + "/"
    page.goto(session.second.dagster_url + path, wait_until="networkidle")
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


def test_a_materialization_launched_from_the_ui_succeeds(session, page):
    page.goto(session.second.dagster_url + "/assets/bronze/fx/rates", wait_until="networkidle")
    dismiss_dagster_newsletter(page)
    page.get_by_text("rates", exact=True).first.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "asset-before-materialize.png"))
    # the button's accessible name carries its icon's name ("... Materialize")
    page.get_by_role("button", name=re.compile(r"Materialize$")).first.click()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    run = None
    while time.monotonic() < deadline:
        runs = _graphql(session.second.dagster_url, RUNS_WITH_ASSETS)["runsOrError"]["results"]
        ours = [r for r in runs if {"path": ["bronze", "fx", "rates"]} in r["assetSelection"]]
        run = ours[0] if ours else None
        if run and run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert run is not None, "no run was launched"
    page.goto(f"{session.second.dagster_url}/runs/{run['runId']}", wait_until="networkidle")
    dismiss_dagster_newsletter(page)
    page.get_by_text("Success", exact=False).first.wait_for(timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "materialization-run.png"))
    assert run["status"] == "SUCCESS", (
        session.settings.data_dir / "logs" / "dagster.log"
    ).read_text()[-3000:]


# -- last: a sync's record starts the eager automation of the assets downstream of it (dbt),
# which would hold the warehouse's pool while a test above waits for its own run
def test_lakehouse_sync_records_into_the_same_instance(session):
    env = {**os.environ, "DATA_DIR": str(session.settings.data_dir)}
    env.pop("DATAGEN_SCALE", None)
    env.pop("DAGSTER_HOME", None)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lakehouse"), "sync", "fx"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with DagsterInstance.from_config(str(session.settings.data_dir / "dagster_home")) as instance:
        event = instance.get_latest_materialization_event(AssetKey(["bronze", "fx", "rates"]))
        check = instance.get_latest_asset_check_evaluation_record(
            AssetCheckKey(AssetKey(["bronze", "fx", "rates"]), "sync_reconciled")
        )
    assert event is not None and event.run_id == ""  # recorded outside any run
    assert "lakehouse sync fx" in event.asset_materialization.description
    assert "dagster/row_count" in event.asset_materialization.metadata
    assert check is not None and check.run_id == "" and check.evaluation.passed
