"""Superset over the serving catalog, for real: the bootstrap from scratch, every dashboard in
a real browser (Chromium through Playwright), chart numbers against the gold marts, a bad
bundle, and dashboards that keep answering while the pipeline runs.

The data and Superset are built once per session and shared with tests/test_superset_viewer.py
(tests/superset_session.py). Screenshots go to test-artifacts/superset/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from lake import open_lake
from lake.serving import current_snapshot
from lake.serving_postgres import grant_login, publish_gold_to_postgres, reader_uri
from orchestration.bi import (
    SUPERSET_DIR,
    SUPERSET_VENV,
    bootstrap,
    start_superset,
    stop_superset,
    superset_env,
    wait_until_healthy,
)
from orchestration.settings import REPO_ROOT
from tests.superset_session import SCALE, SUPERSET_SESSION, SupersetServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(SUPERSET_SESSION)]

ARTIFACTS = REPO_ROOT / "test-artifacts" / "superset"
sys.path.insert(0, str(SUPERSET_DIR))
from bundle_spec import DASHBOARDS  # noqa: E402
from generate_bundles import slug  # noqa: E402

DATASET_COLUMNS_CACHE: dict[str, set[str]] = {}


def _charts_by_name(client: httpx.Client) -> dict[str, dict]:
    listed = client.get("/api/v1/chart/", params={"q": "(page_size:100)"}).json()["result"]
    return {chart["slice_name"]: chart for chart in listed}


def _saved_query_context(client: httpx.Client, chart_id: int) -> dict:
    return json.loads(client.get(f"/api/v1/chart/{chart_id}").json()["result"]["query_context"])


# -- bootstrap --------------------------------------------------------------------------------
def test_bootstrap_from_scratch_imports_every_dashboard(superset):
    client = superset.api()
    dashboards = client.get("/api/v1/dashboard/", params={"q": "(page_size:100)"}).json()
    assert sorted(d["slug"] for d in dashboards["result"]) == sorted(d.slug for d in DASHBOARDS)
    for spec in DASHBOARDS:
        charts = client.get(f"/api/v1/dashboard/{spec.slug}/charts").json()["result"]
        assert sorted(c["slice_name"] for c in charts) == sorted(c.name for c in spec.charts)
    # Superset opens the served link, never the snapshot it pointed at during the bootstrap
    (database,) = client.get("/api/v1/database/").json()["result"]
    uri = client.get(f"/api/v1/database/{database['id']}/connection").json()["result"]
    assert uri["sqlalchemy_uri"] == f"duckdb:///{superset.settings.serving_dir / 'gold.duckdb'}"
    print(f"bootstrap from scratch: {superset.bootstrap_seconds:.1f}s")


def test_bootstrap_again_changes_nothing(superset):
    before = _charts_by_name(superset.api())
    bootstrap(superset.settings, force=True)
    after = _charts_by_name(superset.api())
    assert {n: c["id"] for n, c in after.items()} == {n: c["id"] for n, c in before.items()}


# -- the chart data API -----------------------------------------------------------------------
def test_every_chart_answers_the_chart_data_api_from_its_saved_query(superset):
    client = superset.api()
    charts = _charts_by_name(client)
    assert len(charts) == sum(len(d.charts) for d in DASHBOARDS)
    for name, chart in charts.items():
        response = client.get(f"/api/v1/chart/{chart['id']}/data/")
        assert response.status_code == 200, (name, response.text[:300])
        assert response.json()["result"][0]["rowcount"] > 0, name


def _post_chart_query(client: httpx.Client, chart_id: int, extra_filters: list[dict]) -> list:
    """The chart's saved query with filters added (what a native filter does)."""
    context = _saved_query_context(client, chart_id)
    context["force"] = True
    for query in context["queries"]:
        query["filters"] = [*query["filters"], *extra_filters]
    response = client.post("/api/v1/chart/data", json=context)
    assert response.status_code == 200, response.text[:300]
    return response.json()["result"][0]["data"]


def test_chart_numbers_equal_the_gold_marts(superset):
    client = superset.api()
    charts = _charts_by_name(client)

    # one day's revenue in one region
    day, region, revenue = superset.gold(
        "select order_date, country_code, sum(gross_revenue_reporting) from daily_revenue "
        "group by all order by 3 desc limit 1"
    )[0]
    rows = _post_chart_query(
        client,
        charts["Daily revenue"]["id"],
        [{"col": "country_code", "op": "IN", "val": [region]}],
    )
    by_day = {
        time.strftime("%Y-%m-%d", time.gmtime(row["order_date"] / 1000)): row["gross_revenue"]
        for row in rows
    }
    assert by_day[day.isoformat()] == pytest.approx(float(revenue), abs=0.005)

    # revenue per region, over every day
    expected = dict(
        superset.gold(
            "select country_code, sum(gross_revenue_reporting) from daily_revenue group by 1"
        )
    )
    rows = client.get(f"/api/v1/chart/{charts['Revenue by region']['id']}/data/").json()
    actual = {row["country_code"]: row["gross_revenue"] for row in rows["result"][0]["data"]}
    assert actual == pytest.approx({k: float(v) for k, v in expected.items()}, abs=0.005)

    # the top product
    top = superset.gold(
        "select product_name, sum(gross_revenue_reporting) from sales_by_region_product "
        "group by all order by 2 desc limit 1"
    )[0]
    rows = client.get(f"/api/v1/chart/{charts['Top products']['id']}/data/").json()
    first = rows["result"][0]["data"][0]
    assert (first["product_name"], first["gross_revenue"]) == (
        top[0],
        pytest.approx(float(top[1])),
    )

    # the refund rate across merchants over the 30 days before the end of the data
    (rate,) = superset.gold(
        "select sum(refund_count_30d) * 1.0 / sum(payment_count_30d) from merchant_risk"
    )[0]
    rows = client.get(f"/api/v1/chart/{charts['Refund rate']['id']}/data/").json()
    assert rows["result"][0]["data"][0]["refund_rate"] == pytest.approx(float(rate))

    # the bot share of the busiest day with bots (all traffic classes, not only humans)
    day, share = superset.gold(
        "select event_date, sum(event_count) filter (where traffic_class = 'bot') * 1.0 "
        "/ sum(event_count) from clickstream_traffic_daily group by 1 "
        "having sum(event_count) filter (where traffic_class = 'bot') > 0 "
        "order by sum(event_count) desc limit 1"
    )[0]
    rows = client.get(f"/api/v1/chart/{charts['Bot share of events per day']['id']}/data/").json()
    by_day = {
        time.strftime("%Y-%m-%d", time.gmtime(row["event_date"] / 1000)): row["bot_share"]
        for row in rows["result"][0]["data"]
    }
    assert 0 < share < 1 and by_day[day.isoformat()] == pytest.approx(float(share))

    # rows written by every run of every stream
    expected = sorted(
        superset.gold(
            "select connection_name, stream_name, rows_written, rows_dlq from sync_stream_runs"
        )
    )
    rows = client.get(f"/api/v1/chart/{charts['Rows synced per run and stream']['id']}/data/")
    actual = sorted(
        (r["connection_name"], r["stream_name"], r["rows_written"], r["rows_dlq"])
        for r in rows.json()["result"][0]["data"]
    )
    assert actual == expected and sum(r[2] for r in actual) > 0

    # the failed checks of every dbt build the pipeline ran
    expected = sorted(
        superset.gold("select tests_failed, tests_errored, tests_passed from dbt_build_results")
    )
    rows = client.get(f"/api/v1/chart/{charts['Failed checks per dbt build']['id']}/data/")
    actual = sorted(
        (r["tests_failed"], r["tests_errored"], r["tests_passed"])
        for r in rows.json()["result"][0]["data"]
    )
    assert actual == expected and len(actual) > 0


# -- the browser ------------------------------------------------------------------------------
# A fingerprint of each chart on the page: its canvases' pixels (hashed) and its text.
FINGERPRINTS = """() => Array.from(document.querySelectorAll('[data-test-chart-id]')).map(el => {
    const canvases = Array.from(el.querySelectorAll('canvas'));
    let painted = 0, digest = 0;
    for (const canvas of canvases) {
        const url = canvas.toDataURL();
        for (let i = 0; i < url.length; i += 7) digest = (digest * 31 + url.charCodeAt(i)) | 0;
        const ctx = canvas.getContext('2d');
        if (ctx && canvas.width && canvas.height) {
            const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 3; i < pixels.length; i += 64) if (pixels[i] > 0) painted++;
        }
    }
    return {
        id: el.getAttribute('data-test-chart-id'),
        viz: el.getAttribute('data-test-viz-type'),
        canvases: canvases.length,
        painted: painted,
        digest: digest,
        rows: el.querySelectorAll('tbody tr').length,
        text: el.innerText,
        loading: el.querySelectorAll('.loading, [data-test="loading-indicator"]').length,
        errors: el.querySelectorAll(
            '.ant-alert-error, [data-test="error-alert"], [data-test="chart-error"]'
        ).length,
    };
})"""


def _wait_until_drawn(page, expected_charts: int, timeout: float = 90) -> list[dict]:
    """Wait until every chart has loaded and its canvases stopped changing (animations)."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        charts = page.evaluate(FINGERPRINTS)
        settled = len(charts) == expected_charts and not any(c["loading"] for c in charts)
        if settled and charts == previous:
            return charts
        previous = charts if settled else None
        page.wait_for_timeout(500)
    raise AssertionError(f"the charts did not finish drawing within {timeout:.0f}s: {previous}")


def _assert_drew_data(charts: list[dict], where: str) -> None:
    for chart in charts:
        label = f"{where}: chart {chart['id']} ({chart['viz']})"
        assert chart["errors"] == 0, f"{label} shows an error: {chart['text'][:300]}"
        assert "No results" not in chart["text"], f"{label} drew no data"
        assert "Unexpected error" not in chart["text"], f"{label}: {chart['text'][:300]}"
        if chart["viz"] == "table":
            assert chart["rows"] > 0, f"{label} has no rows"
        elif chart["viz"] == "big_number_total":
            assert any(ch.isdigit() for ch in chart["text"]), f"{label} shows no number"
        else:
            assert chart["canvases"] > 0 and chart["painted"] > 50, f"{label} drew nothing"


def _login(page, superset: SupersetServer) -> None:
    page.goto(f"{superset.url}/login/")
    page.fill("[data-test=username-input]", superset.username)
    page.fill("[data-test=password-input]", superset.password)
    page.click("[data-test=login-button]")
    page.wait_for_url("**/superset/welcome/**")


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=[d.slug for d in DASHBOARDS])
def test_dashboard_draws_every_chart_and_follows_a_native_filter(superset, browser, dashboard):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1600, "height": 1400})
    failures: list[str] = []
    filtered_requests: list[str] = []

    def on_response(response) -> None:
        if "/api/v1/chart/data" in response.url:
            if response.status != 200:
                failures.append(f"{response.status} {response.text()[:300]}")
            filtered_requests.append(response.request.post_data or "")

    page.on("response", on_response)
    try:
        _login(page, superset)
        page.goto(f"{superset.url}/superset/dashboard/{dashboard.slug}/")
        before = _wait_until_drawn(page, len(dashboard.charts))
        page.screenshot(path=str(ARTIFACTS / f"{dashboard.slug}.png"), full_page=True)
        assert failures == [], failures
        _assert_drew_data(before, dashboard.title)

        # apply the first select filter with its first value, as a user would
        spec = next(f for f in dashboard.filters if f.kind == "select")
        filter_id = f"NATIVE_FILTER-{slug(dashboard.slug)}-{slug(spec.name)}"
        filtered_requests.clear()
        page.click(f'[data-test="{filter_id}"] .ant-select-selector')
        option = page.locator(".ant-select-item-option").first
        value = option.get_attribute("title") or option.inner_text()
        option.click()
        page.keyboard.press("Escape")
        page.click('[data-test="filter-bar__apply-button"]')
        page.wait_for_timeout(500)
        after = _wait_until_drawn(page, len(dashboard.charts))
        page.screenshot(path=str(ARTIFACTS / f"{dashboard.slug}-filtered.png"), full_page=True)

        assert failures == [], failures
        _assert_drew_data(after, f"{dashboard.title} filtered on {spec.name}={value}")
        in_scope = [
            c for c in dashboard.charts if spec.column in _dataset_columns(superset, c.dataset)
        ]
        carrying = [r for r in filtered_requests if spec.column in r and value in r]
        assert len(carrying) >= len(in_scope), (
            f"{len(carrying)} chart queries carried {spec.column}={value}, "
            f"{len(in_scope)} charts are in scope"
        )
        changed = [a["id"] for a, b in zip(after, before, strict=True) if a != b]
        assert changed, f"no chart changed after filtering {spec.name} on {value}"
    finally:
        page.close()


def _dataset_columns(superset: SupersetServer, dataset: str) -> set[str]:
    if dataset not in DATASET_COLUMNS_CACHE:
        path = SUPERSET_DIR / "bundles" / "datasets" / "lakehouse_serving" / f"{dataset}.yaml"
        config = yaml.safe_load(path.read_text())
        DATASET_COLUMNS_CACHE[dataset] = {c["column_name"] for c in config["columns"]}
    return DATASET_COLUMNS_CACHE[dataset]


# -- while the pipeline runs ------------------------------------------------------------------
def test_dashboards_keep_answering_while_the_pipeline_runs(superset):
    """A second demo run (a change set, syncs, dbt rebuilding gold, a publish) while users
    query every chart; not one error, and the new publish is what the charts show after."""
    client = superset.api()
    charts = _charts_by_name(client)
    contexts = {name: _saved_query_context(client, c["id"]) for name, c in charts.items()}
    settings = superset.settings
    served_before = current_snapshot(settings.serving_dir)
    env = {
        **os.environ,
        "DATA_DIR": str(settings.data_dir),
        "DATAGEN_SCALE": SCALE,
        "DATAGEN_SEED": "7",
    }
    pipeline = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "demo"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    errors: list[str] = []
    answered = 0
    lock = threading.Lock()

    def user() -> None:
        nonlocal answered
        own = superset.api()  # logged in (an httpx client cannot be re-entered by `with`)
        try:
            while pipeline.poll() is None:
                for name, context in contexts.items():
                    try:
                        response = own.post("/api/v1/chart/data", json={**context, "force": True})
                        problem = (
                            None
                            if response.status_code == 200
                            else f"{name}: {response.status_code} {response.text[:200]}"
                        )
                    except httpx.HTTPError as exc:  # a dropped connection is an error too
                        problem = f"{name}: {type(exc).__name__}: {exc}"
                    with lock:
                        answered += 1
                        if problem:
                            errors.append(problem)
        finally:
            own.close()

    users = [threading.Thread(target=user) for _ in range(3)]
    for thread in users:
        thread.start()
    _, stderr = pipeline.communicate(timeout=900)
    for thread in users:
        thread.join()
    # users' errors first: they are what this test is about
    assert errors == [], errors[:5]
    assert pipeline.returncode == 0, stderr[-4000:]
    assert answered > len(contexts)
    print(f"{answered} chart queries answered during the pipeline run, 0 errors")
    # the run rebuilt gold and published it while the users were querying
    assert current_snapshot(settings.serving_dir) != served_before

    # the charts now answer from the new snapshot
    context = json.loads(json.dumps(contexts["Rows per gold mart (last publish)"]))
    context["queries"][0]["columns"] = ["snapshot_id"]
    response = client.post("/api/v1/chart/data", json={**context, "force": True}).json()
    served = {row["snapshot_id"] for row in response["result"][0]["data"]}
    assert served == {current_snapshot(settings.serving_dir)}
    # each order once: daily_orders, not a sum over daily_revenue's categories
    (orders,) = superset.gold("select sum(order_count) from daily_orders")[0]
    (placed,) = superset.gold("select count(*) from fct_orders where not is_cancelled")[0]
    assert orders == placed
    context = contexts["Orders per day"]
    response = client.post("/api/v1/chart/data", json={**context, "force": True}).json()
    assert sum(r["orders"] for r in response["result"][0]["data"]) == orders


# -- bad input --------------------------------------------------------------------------------
def _run_bootstrap(bundle: Path, superset: SupersetServer) -> subprocess.CompletedProcess:
    env = superset_env(superset.settings)
    env["SUPERSET_METADATA_DB_URI"] = "sqlite:////nonexistent/never-used.db"
    return subprocess.run(
        [
            str(SUPERSET_VENV / "bin" / "python"),
            str(SUPERSET_DIR / "bootstrap.py"),
            "--bundle",
            str(bundle),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_bundle_with_a_missing_column_or_dataset_fails_naming_them(superset, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(SUPERSET_DIR / "bundles", bundle)
    chart = bundle / "charts" / "revenue_by_region.yaml"
    config = yaml.safe_load(chart.read_text())
    config["params"]["x_axis"] = "sales_region"
    chart.write_text(yaml.safe_dump(config))
    dataset = bundle / "datasets" / "lakehouse_serving" / "merchant_risk.yaml"
    config = yaml.safe_load(dataset.read_text())
    config["table_name"] = "merchant_risk_v2"
    dataset.write_text(yaml.safe_dump(config))

    result = _run_bootstrap(bundle, superset)

    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "dashboard 'Revenue', chart 'Revenue by region': column 'sales_region' is not in "
        "analytics.daily_revenue"
    ) in result.stdout
    assert (
        "dashboard 'Payments & risk', chart 'Merchants at risk': dataset "
        "analytics.merchant_risk_v2 is not in the serving catalog"
    ) in result.stdout


def test_superset_refuses_to_start_with_a_known_secret_or_password(superset):
    env = superset_env(superset.settings)
    check = [str(SUPERSET_VENV / "bin" / "python"), "-c", "import superset_config"]
    cases = {
        "SUPERSET_SECRET_KEY": ("CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET", "published sample"),
        "SUPERSET_ADMIN_PASSWORD": ("admin", "well-known or short password"),
    }
    for key, (value, message) in cases.items():
        result = subprocess.run(
            check, env={**env, key: value}, capture_output=True, text=True, cwd=SUPERSET_DIR
        )
        assert result.returncode != 0 and message in result.stderr, (key, result.stderr[-500:])
    result = subprocess.run(
        check,
        env={k: v for k, v in env.items() if k != "SUPERSET_SECRET_KEY"},
        capture_output=True,
        text=True,
        cwd=SUPERSET_DIR,
    )
    assert "SUPERSET_SECRET_KEY is not set" in result.stderr


# -- server mode: the same bundle over PostgreSQL's analytics schema ---------------------------
@pytest.fixture(scope="module")
def postgres_server(private_postgres_server):
    """The test below creates roles (cluster-wide): a server of this module's own."""
    return private_postgres_server


def test_every_chart_answers_from_the_postgresql_serving_schema(superset, postgres_database):
    """Gold published to PostgreSQL (`analytics`, read through the login role), a second
    Superset bootstrapped with SERVING_DATABASE_URI pointing there: every chart of the bundle
    answers, and the Revenue and Payments charts show the same numbers as over DuckDB."""
    settings = superset.settings
    publish_gold_to_postgres(postgres_database, lake=open_lake(settings.lake_url, create=False))
    password = "pg-reader-" + os.urandom(9).hex()
    grant_login(postgres_database, "superset_reader", password)
    home = settings.data_dir / "superset-pg"
    home.mkdir(exist_ok=True)
    # read by superset_env() for the bootstrap and the webserver of this second instance
    os.environ["SERVING_DATABASE_URI"] = reader_uri(postgres_database, "superset_reader", password)
    os.environ["SUPERSET_METADATA_DB_URI"] = f"sqlite:///{home / 'superset.db'}"
    bootstrap(settings, superset_env(settings), force=True)
    port = free_port()
    process = start_superset(settings, port, run_bootstrap=False)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        on_postgres = SupersetServer(url, settings, superset.username, superset.password, 0.0).api()
        database = on_postgres.get("/api/v1/database/").json()["result"]
        assert [d["backend"] for d in database] == ["postgresql"]
        on_duckdb = superset.api()
        charts = _charts_by_name(on_postgres)
        assert len(charts) == sum(len(d.charts) for d in DASHBOARDS)
        compared = {
            c.name for d in DASHBOARDS if d.slug in ("revenue", "payments-risk") for c in d.charts
        }
        for name, chart in charts.items():
            response = on_postgres.get(f"/api/v1/chart/{chart['id']}/data/?force=true")
            assert response.status_code == 200, (name, response.text[:300])
            result = response.json()["result"][0]
            assert result["rowcount"] > 0, name
            if name in compared:
                duck = _charts_by_name(on_duckdb)[name]
                expected = on_duckdb.get(f"/api/v1/chart/{duck['id']}/data/?force=true").json()
                assert _normalized(result["data"]) == _normalized(expected["result"][0]["data"]), (
                    name
                )
    finally:
        stop_superset(process)


def _normalized(rows: list[dict]) -> list[tuple]:
    """Rows comparable across engines: numbers rounded, sorted (rows that tie on a chart's
    order, e.g. merchants of the same risk rank, come back in either order)."""

    def value(v):
        return round(float(v), 4) if isinstance(v, int | float) and not isinstance(v, bool) else v

    return sorted((tuple((k, value(v)) for k, v in sorted(row.items())) for row in rows), key=repr)
