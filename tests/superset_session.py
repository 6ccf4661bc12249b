"""One Superset per test session, shared by tests/test_superset.py and
tests/test_superset_viewer.py: a copy of the session's demo folder (two demo runs at the
demo's defaults) published to its own serving catalog, Superset bootstrapped from scratch in
its own virtualenv on a free port (with a viewer user, as a deployment that sets
SUPERSET_VIEWER_PASSWORD has), and a Chromium for the browser tests. The fixtures are
registered in tests/conftest.py (once, so pytest builds them once) and the modules that use
them share one xdist group, so under `make test` they run on one worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from orchestration.bi import (
    bootstrap,
    load_credentials,
    start_superset,
    stop_superset,
    superset_env,
    superset_executable,
    wait_until_healthy,
)
from orchestration.settings import Settings
from serving.duckdb_catalog import open_served
from tests.browser import chromium
from tests.ports import free_port
from tests.shared_lake import SharedDemo, serve_the_copy

SUPERSET_SESSION = "superset_session"  # the xdist group of the modules that use it
SCALE = "0.01"  # the demo's, as the shared demo folder is built
VIEWER, VIEWER_PASSWORD = "reader", "a-test-only-viewer-password"


def session_env(settings: Settings) -> dict[str, str]:
    """What the session's Superset is bootstrapped with: superset_env and a viewer user."""
    return {
        **superset_env(settings),
        "SUPERSET_VIEWER_USERNAME": VIEWER,
        "SUPERSET_VIEWER_PASSWORD": VIEWER_PASSWORD,
    }


@dataclass
class SupersetServer:
    url: str
    settings: Settings
    username: str
    password: str
    bootstrap_seconds: float

    def api(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=120)
        token = client.post(
            "/api/v1/security/login",
            json={
                "username": self.username,
                "password": self.password,
                "provider": "db",
                "refresh": False,
            },
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        return client

    def api_that_writes(self) -> httpx.Client:
        """The API as the admin, with the CSRF token Superset asks for on a PUT or DELETE."""
        client = self.api()
        client.headers["X-CSRFToken"] = client.get("/api/v1/security/csrf_token/").json()["result"]
        client.headers["Referer"] = self.url
        return client

    def gold(self, sql: str, parameters: list | None = None) -> list[tuple]:
        """Query the gold marts through the serving catalog (the snapshot Superset reads,
        schema `analytics`), never gold's files: how gold is stored is the lake's business."""
        catalog = self.settings.serving_dir / "gold.duckdb"
        with open_served(catalog) as con:
            con.execute("use analytics")
            return con.execute(sql, parameters).fetchall()


@pytest.fixture(scope="session")
def pipeline_settings(tmp_path_factory, shared_demo: SharedDemo) -> Settings:
    """A copy of the session's demo folder (tests/shared_lake.py), its serving catalog
    reattached to the copy's lake. Two runs: dbt_build_results then holds the first build,
    which the first publish cannot (a build is recorded once it ends, and an empty DuckLake
    mart is empty, where the old Parquet copy held one all-NULL row)."""
    data_dir = tmp_path_factory.mktemp("bi") / "data"
    settings = shared_demo.copy(shared_demo.after_second, data_dir)
    serve_the_copy(settings)
    return settings


@pytest.fixture(scope="session")
def superset(pipeline_settings) -> Iterator[SupersetServer]:
    superset_executable("gunicorn")  # says what to run when Superset is not installed
    settings = pipeline_settings
    started = time.perf_counter()
    bootstrap(settings, session_env(settings), force=True)  # from scratch: empty metadata
    seconds = time.perf_counter() - started
    port = free_port()
    process = start_superset(settings, port, run_bootstrap=False)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        credentials = load_credentials(settings)
        yield SupersetServer(
            url,
            settings,
            credentials["SUPERSET_ADMIN_USERNAME"],
            credentials["SUPERSET_ADMIN_PASSWORD"],
            seconds,
        )
    finally:
        stop_superset(process)


@pytest.fixture(scope="session")
def browser():
    with chromium() as launched:
        yield launched
