"""The Viewer role, for real: a business user logged in to a running Superset opens every
dashboard and reads every chart, and is refused SQL Lab, Explore, every edit, and every
database but the read-only serving one (REST API and web UI, as a browser would send them).

The pipeline and Superset are the session's (tests/superset_session.py), shared with
tests/test_superset.py: what a test here adds to that Superset (a viewer user, a second
database) it leaves as the other module expects it (the viewer user aside).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from orchestration.bi import (
    SUPERSET_DIR,
    bootstrap,
    superset_env,
    superset_executable,
    superset_home,
)
from orchestration.settings import REPO_ROOT
from tests.browser import assert_drew_data, login_to_superset, wait_until_drawn
from tests.superset_session import (
    SUPERSET_SESSION,
    VIEWER,
    VIEWER_PASSWORD,
    SupersetServer,
    session_env,
)
from tests.test_superset import ARTIFACTS, DASHBOARDS, STREAMED_CHARTS

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(SUPERSET_SESSION)]

CSRF_INPUT = re.compile(r'(?:id|name)="csrf_token"[^>]*value="([^"]+)"')


def _viewer_env(server: SupersetServer) -> dict[str, str]:
    return session_env(server.settings)


@pytest.fixture(scope="module")
def viewer(superset) -> SupersetServer:
    """The same Superset as its viewer user, whom the session's bootstrap created from the
    environment (SUPERSET_VIEWER_USERNAME and SUPERSET_VIEWER_PASSWORD)."""
    return dataclasses.replace(superset, username=VIEWER, password=VIEWER_PASSWORD)


def _csrf(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def web(viewer) -> Iterator[httpx.Client]:
    """The viewer's browser session: logged in through the login form, with the CSRF token
    the pages carry (what Superset's front end sends with every write)."""
    client = httpx.Client(base_url=viewer.url, timeout=120)
    token = _csrf(client.get("/login/").text)
    login = client.post(
        "/login/", data={"username": VIEWER, "password": VIEWER_PASSWORD, "csrf_token": token}
    )
    assert login.status_code == 302 and "/login" not in login.headers["location"], login.text
    page = client.get("/superset/welcome/")
    assert page.status_code == 200
    client.headers.update({"X-CSRFToken": _csrf(page.text), "Referer": viewer.url})
    yield client
    client.close()


def _charts(client: httpx.Client) -> list[dict]:
    return client.get("/api/v1/chart/", params={"q": "(page_size:100)"}).json()["result"]


def test_the_viewer_opens_every_dashboard_and_reads_every_chart(viewer, web):
    api = viewer.api()  # the REST API's own login, as the viewer
    listed = api.get("/api/v1/dashboard/", params={"q": "(page_size:100)"})
    assert listed.status_code == 200
    assert sorted(d["slug"] for d in listed.json()["result"]) == sorted(d.slug for d in DASHBOARDS)
    charts = _charts(api)
    assert len(charts) == sum(len(d.charts) for d in DASHBOARDS)
    for chart in charts:
        data = api.get(f"/api/v1/chart/{chart['id']}/data/")
        assert data.status_code == 200, (chart["slice_name"], data.text[:300])
        if chart["slice_name"] not in STREAMED_CHARTS:  # empty without a stream
            assert data.json()["result"][0]["rowcount"] > 0, chart["slice_name"]
    # the web UI: the dashboard list and each dashboard's page
    assert web.get("/dashboard/list/").status_code == 200
    for dashboard in DASHBOARDS:
        page = web.get(f"/superset/dashboard/{dashboard.slug}/")
        assert page.status_code == 200, dashboard.slug
    # a native filter's state is what a reader writes, and may
    dashboard_id = listed.json()["result"][0]["id"]
    state = web.post(f"/api/v1/dashboard/{dashboard_id}/filter_state", json={"value": "{}"})
    assert state.status_code == 201, state.text


def test_the_viewer_cannot_open_sql_lab_or_explore(superset, viewer, web):
    for path in ("/sqllab/", "/explore/", "/databaseview/list/", "/tablemodelview/list/"):
        page = web.get(path)
        assert page.status_code in (302, 403), (path, page.status_code)
        assert page.status_code == 403 or "/login" in page.headers["location"], path
    run = web.post(
        "/api/v1/sqllab/execute/", json={"database_id": _serving_id(superset), "sql": "select 1"}
    )
    assert run.status_code == 403, run.text


def test_the_viewer_cannot_edit_charts_dashboards_or_datasets(superset, viewer, web):
    chart = _charts(web)[0]
    dashboard = web.get("/api/v1/dashboard/").json()["result"][0]
    dataset = chart["datasource_id"]
    attempts = {
        "rename a chart": web.put(f"/api/v1/chart/{chart['id']}", json={"slice_name": "x"}),
        "delete a chart": web.delete(f"/api/v1/chart/{chart['id']}"),
        "create a chart": web.post(
            "/api/v1/chart/",
            json={"slice_name": "x", "datasource_id": dataset, "datasource_type": "table"},
        ),
        "rename a dashboard": web.put(
            f"/api/v1/dashboard/{dashboard['id']}", json={"dashboard_title": "x"}
        ),
        "create a dashboard": web.post("/api/v1/dashboard/", json={"dashboard_title": "x"}),
        "edit a dataset": web.put(f"/api/v1/dataset/{dataset}", json={"description": "x"}),
        "import a bundle": web.post("/api/v1/assets/import/"),
    }
    for what, response in attempts.items():
        assert response.status_code == 403, (what, response.status_code, response.text[:200])
    # and nothing changed
    admin = superset.api_that_writes()
    assert (
        admin.get(f"/api/v1/chart/{chart['id']}").json()["result"]["slice_name"]
        == (chart["slice_name"])
    )
    title = admin.get(f"/api/v1/dashboard/{dashboard['id']}").json()["result"]["dashboard_title"]
    assert title == dashboard["dashboard_title"]


def test_the_viewer_reaches_no_database_but_the_serving_one(superset, viewer, web):
    assert web.get("/api/v1/database/").status_code == 403
    created = web.post(
        "/api/v1/database/",
        json={"database_name": "mine", "sqlalchemy_uri": "duckdb:///:memory:"},
    )
    assert created.status_code == 403, created.text

    # an admin adds another database with a dataset and a chart the admin can read...
    # (removed afterwards: the session's Superset serves tests/test_superset.py too)
    admin = superset.api_that_writes()
    created_objects: list[str] = []
    try:
        _a_database_the_viewer_cannot_reach(admin, web, created_objects)
    finally:
        for path in reversed(created_objects):
            assert admin.delete(path).status_code == 200, path


def _a_database_the_viewer_cannot_reach(
    admin: httpx.Client, web: httpx.Client, created_objects: list[str]
) -> None:
    other = admin.post(
        "/api/v1/database/",
        json={"database_name": "Other (not for viewers)", "sqlalchemy_uri": "duckdb:///:memory:"},
    )
    assert other.status_code == 201, other.text
    created_objects.append(f"/api/v1/database/{other.json()['id']}")
    dataset = admin.post(
        "/api/v1/dataset/",
        json={
            "database": other.json()["id"],
            "schema": "main",
            "table_name": "secret",
            "sql": "select 42 as answer",
        },
    )
    assert dataset.status_code == 201, dataset.text
    created_objects.append(f"/api/v1/dataset/{dataset.json()['id']}")
    query = {
        "datasource": {"id": dataset.json()["id"], "type": "table"},
        "queries": [{"columns": ["answer"], "row_limit": 10}],
        "result_format": "json",
        "result_type": "full",
    }
    chart = admin.post(
        "/api/v1/chart/",
        json={
            "slice_name": "Secret",
            "datasource_id": dataset.json()["id"],
            "datasource_type": "table",
            "viz_type": "table",
            "params": json.dumps({"query_mode": "raw", "all_columns": ["answer"]}),
            "query_context": json.dumps({**query, "form_data": {}}),
        },
    )
    assert chart.status_code == 201, chart.text
    chart_id = chart.json()["id"]
    created_objects.append(f"/api/v1/chart/{chart_id}")
    answer = admin.get(f"/api/v1/chart/{chart_id}/data/")
    assert answer.status_code == 200 and answer.json()["result"][0]["data"] == [{"answer": 42}]

    # ...which the viewer neither sees nor queries, by the chart or by the dataset
    assert chart_id not in {c["id"] for c in _charts(web)}
    assert web.get(f"/api/v1/chart/{chart_id}/data/").status_code in (403, 404)
    direct = web.post("/api/v1/chart/data", json=query)
    assert direct.status_code in (403, 404), direct.text
    assert "42" not in direct.text
    assert web.get(f"/api/v1/database/{other.json()['id']}").status_code in (403, 404)


def test_a_viewer_sees_the_payments_dashboard_drawn_in_a_browser(viewer, browser):
    dashboard = next(d for d in DASHBOARDS if d.slug == "payments-risk")
    page = browser.new_page(viewport={"width": 1600, "height": 1400})
    failures: list[str] = []

    def on_response(response) -> None:
        if response.url.startswith(viewer.url) and response.status >= 400:
            failures.append(f"{response.status} {response.url}")

    page.on("response", on_response)
    try:
        login_to_superset(page, viewer.url, viewer.username, viewer.password)
        page.goto(f"{viewer.url}/superset/dashboard/{dashboard.slug}/")
        try:
            charts = wait_until_drawn(page, len(dashboard.charts), timeout=180)
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "payments-risk-viewer.png"), full_page=True)
        assert_drew_data(charts, f"{dashboard.title} as the viewer")
        assert failures == [], failures  # not one request refused or failed
        assert page.locator('[data-test="edit-dashboard-button"]').count() == 0
    finally:
        page.close()


def _role_permissions(server: SupersetServer) -> set[tuple[str, str]]:
    with sqlite3.connect(superset_home(server.settings) / "superset.db") as db:
        return set(
            db.execute(
                "select p.name, v.name from ab_role r "
                "join ab_permission_view_role pr on pr.role_id = r.id "
                "join ab_permission_view pv on pv.id = pr.permission_view_id "
                "join ab_permission p on p.id = pv.permission_id "
                "join ab_view_menu v on v.id = pv.view_menu_id where r.name = 'Viewer'"
            ).fetchall()
        )


def test_the_bootstrap_resets_the_viewer_role_to_its_definition(superset, viewer):
    before = _role_permissions(viewer)
    assert ("can_read", "Dashboard") in before
    assert {p for p in before if p[0] == "database_access"} == {
        ("database_access", f"[Lakehouse gold (serving)].(id:{_serving_id(superset)})")
    }
    editing = {("can_write", view) for view in ("Chart", "Dashboard", "Dataset", "Database")}
    sql_lab = {("can_sqllab", "Superset"), ("can_execute_sql_query", "SQLLab")}
    assert not before & (editing | sql_lab | {("can_explore", "Superset")})
    # an admin grants the viewers chart editing by hand; the next bootstrap takes it back
    with sqlite3.connect(superset_home(viewer.settings) / "superset.db") as db:
        db.execute(
            "insert into ab_permission_view_role (permission_view_id, role_id) "
            "select pv.id, r.id from ab_permission_view pv "
            "join ab_permission p on p.id = pv.permission_id "
            "join ab_view_menu v on v.id = pv.view_menu_id, ab_role r "
            "where p.name = 'can_write' and v.name = 'Chart' and r.name = 'Viewer'"
        )
    assert ("can_write", "Chart") in _role_permissions(viewer)
    bootstrap(viewer.settings, _viewer_env(viewer), force=True)
    assert _role_permissions(viewer) == before
    with sqlite3.connect(superset_home(viewer.settings) / "superset.db") as db:
        roles = db.execute(
            "select r.name from ab_user u join ab_user_role ur on ur.user_id = u.id "
            "join ab_role r on r.id = ur.role_id where u.username = ?",
            (VIEWER,),
        ).fetchall()
        assert roles == [("Viewer",)]
        assert db.execute("select count(*) from ab_role where name = 'Viewer'").fetchone() == (1,)


def _serving_id(server: SupersetServer) -> int:
    listed = server.api().get("/api/v1/database/").json()["result"]
    return next(d["id"] for d in listed if d["database_name"] == "Lakehouse gold (serving)")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        (None, "SUPERSET_VIEWER_PASSWORD is empty"),
        ("short", "SUPERSET_VIEWER_PASSWORD is a well-known or short password"),
    ],
    ids=["no password", "short password"],
)
def test_a_viewer_without_a_good_password_stops_the_bootstrap_before_any_change(
    superset, password, message
):
    env = {**superset_env(superset.settings), "SUPERSET_VIEWER_USERNAME": "someone"}
    env.pop("SUPERSET_VIEWER_PASSWORD", None)
    if password is not None:
        env["SUPERSET_VIEWER_PASSWORD"] = password
    result = subprocess.run(
        [str(superset_executable("python")), str(SUPERSET_DIR / "bootstrap.py")],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "metadata database migrated" not in result.stdout
