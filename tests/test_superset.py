"""Superset over the serving catalog, for real: the bootstrap from scratch, every dashboard in
a real browser (Chromium through Playwright), chart numbers against the gold marts, a bad
bundle, and dashboards that keep answering while the pipeline runs.

The data and Superset are built once per session and shared with tests/test_superset_viewer.py
(tests/superset_session.py). Screenshots go to test-artifacts/superset/.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml

from datagen import marketplace
from lake import open_lake
from orchestration.bi import (
    SUPERSET_DIR,
    bootstrap,
    superset_env,
    superset_executable,
)
from orchestration.settings import REPO_ROOT
from serving.duckdb_catalog import current_snapshot, publish_gold
from serving.postgres_schema import grant_login, publish_gold_to_postgres, reader_uri
from tests.browser import (
    assert_drew_data,
    login_to_superset,
    screenshot_dashboard,
    wait_until_drawn,
)
from tests.superset_session import SUPERSET_SESSION, SupersetServer, session_env

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(SUPERSET_SESSION)]

ARTIFACTS = REPO_ROOT / "test-artifacts" / "superset"
sys.path.insert(0, str(SUPERSET_DIR))
from bundle_spec import (  # noqa: E402
    DASHBOARDS,
    DATASETS,
    PERIODS,
    REGION_OF_COUNTRY,
    Chart,
    NativeFilter,
)
from bundle_spec_live import LIVE_DASHBOARDS  # noqa: E402
from generate_bundles import grid_rows, slug  # noqa: E402

# The live sales dashboard reads the mart of streamed events: empty in the session's batch
# demo unless tests/test_live_dashboard.py (which draws it with data while events flow) ran
# first on this worker, so here its charts must answer, with or without rows.
STREAMED_CHARTS = {c.name for d in LIVE_DASHBOARDS for c in d.charts}
BATCH_DASHBOARDS = tuple(d for d in DASHBOARDS if d not in LIVE_DASHBOARDS)

DATASET_COLUMNS_CACHE: dict[str, set[str]] = {}
DATASETS_BY_NAME = {d.name: d for d in DATASETS}
# between two chart queries of a user while the pipeline runs: three users that never pause
# kept both of Superset's processes busy (about 140 s of CPU), slowing the pipeline they wait for
USER_PAUSE_S = 0.25


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
    bootstrap(superset.settings, session_env(superset.settings), force=True)
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
        if name not in STREAMED_CHARTS:
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

    # revenue per country, and per region of the marketplace (datagen's regions)
    by_country = {
        country: float(revenue)
        for country, revenue in superset.gold(
            "select country_code, sum(gross_revenue_reporting) from daily_revenue group by 1"
        )
    }
    rows = client.get(f"/api/v1/chart/{charts['Revenue by country']['id']}/data/").json()
    actual = {row["country_code"]: row["gross_revenue"] for row in rows["result"][0]["data"]}
    assert actual == pytest.approx(by_country, abs=0.005)
    by_region: dict[str, float] = {}
    for country, revenue in by_country.items():
        region = REGION_OF_COUNTRY[country]
        by_region[region] = by_region.get(region, 0.0) + revenue
    rows = client.get(f"/api/v1/chart/{charts['Revenue by region']['id']}/data/").json()
    actual = {row["region"]: row["gross_revenue"] for row in rows["result"][0]["data"]}
    assert len(actual) > 1 and actual == pytest.approx(by_region, abs=0.01)

    # the top ten products, ranked in SQL: exactly ten rows, no row limit reached
    top = superset.gold(
        "select product_name, sum(gross_revenue_reporting) from sales_by_region_product "
        "group by product_id, product_name order by 2 desc, product_id limit 10"
    )
    result = client.get(f"/api/v1/chart/{charts['Top 10 products']['id']}/data/").json()
    rows = result["result"][0]["data"]
    assert [(r["revenue_rank"], r["product_name"]) for r in rows] == [
        (rank, name) for rank, (name, _) in enumerate(top, start=1)
    ]
    assert [r["gross_revenue_reporting"] for r in rows] == pytest.approx(
        [float(revenue) for _, revenue in top]
    )

    # this week and this month against the previous ones, ending on the last day of the data
    rows = client.get(
        f"/api/v1/chart/{charts['Revenue: this period vs the previous one']['id']}/data/"
    ).json()["result"][0]["data"]
    compared = {row["comparison"]: row for row in rows}
    assert len(compared) == len(PERIODS)
    for name, days in PERIODS:
        current, previous = _this_and_previous_period(superset, days)
        row = compared[name]
        assert row["current_revenue"] == pytest.approx(current, abs=0.01), name
        assert row["previous_revenue"] == pytest.approx(previous, abs=0.01), name
        assert row["revenue_change"] == pytest.approx(current / previous - 1), name

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


def _this_and_previous_period(superset: SupersetServer, days: int) -> tuple[float, float]:
    """Gross revenue of the last `days` days of the data and of the `days` before them."""
    ((last,),) = superset.gold("select max(order_date) from daily_revenue")
    start, middle = last - timedelta(days=2 * days), last - timedelta(days=days)
    ((current, previous),) = superset.gold(
        "select sum(gross_revenue_reporting) filter (where order_date > ?), "
        "sum(gross_revenue_reporting) filter (where order_date <= ? and order_date > ?) "
        "from daily_revenue",
        [middle, middle, start],
    )
    return float(current), float(previous)


def test_the_dashboards_regions_are_the_marketplaces():
    """The Region filter lists the regions datagen sells in, each country in its own."""
    assert REGION_OF_COUNTRY == marketplace.REGION_OF_COUNTRY


def test_every_dashboard_row_is_full_and_a_part_empty_one_is_refused():
    for dashboard in DASHBOARDS:
        assert all(sum(c.width for c in row) == 12 for row in grid_rows(dashboard))
    first = DASHBOARDS[0]
    narrowed = dataclasses.replace(
        first, charts=(dataclasses.replace(first.charts[0], width=2), *first.charts[1:])
    )
    with pytest.raises(ValueError, match="not 12 \\(an empty cell\\)"):
        grid_rows(narrowed)


# -- the browser ------------------------------------------------------------------------------
@pytest.mark.parametrize("dashboard", BATCH_DASHBOARDS, ids=[d.slug for d in BATCH_DASHBOARDS])
def test_dashboard_draws_every_chart_and_follows_each_native_filter(superset, browser, dashboard):
    """Every chart draws data with no error or warning (a row limit reached is one), and each
    native filter changes what the charts in its scope show; a screenshot of the dashboard
    as it opens is left in test-artifacts/superset/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1600, "height": 1400})
    failures: list[str] = []
    requests: list[str] = []

    def on_response(response) -> None:
        if "/api/v1/chart/data" not in response.url:
            return
        if response.status != 200:
            failures.append(f"{response.status} {response.text()[:300]}")
            return
        sent = json.loads(response.request.post_data or "{}")
        requests.append(response.request.post_data or "")
        for query, result in zip(sent.get("queries", []), response.json()["result"], strict=False):
            if query.get("row_limit") and result["rowcount"] >= query["row_limit"]:
                failures.append(f"row limit {query['row_limit']} reached: {result['query'][:200]}")

    page.on("response", on_response)
    dashboard_url = f"{superset.url}/superset/dashboard/{dashboard.slug}/"
    try:
        login_to_superset(page, superset.url, superset.username, superset.password)
        page.goto(dashboard_url)
        wait_until_drawn(page, len(dashboard.charts))
        screenshot = ARTIFACTS / f"{dashboard.slug}.png"
        screenshot_dashboard(page, screenshot, len(dashboard.charts), max_height=8000)
        print(f"screenshot: {screenshot}")
        # drawn at the size it keeps from now on: what each filter's result is compared with
        before = wait_until_drawn(page, len(dashboard.charts))
        assert failures == [], failures
        assert_drew_data(before, dashboard.title)

        for spec in dashboard.filters:
            filter_id = f"NATIVE_FILTER-{slug(dashboard.slug)}-{slug(spec.name)}"
            requests.clear()
            if spec.kind == "select":  # the first value in the list, as a user picks it
                page.goto(dashboard_url)
                wait_until_drawn(page, len(dashboard.charts))
                requests.clear()
                page.click(f'[data-test="{filter_id}"] .ant-select-selector')
                option = page.locator(".ant-select-item-option").first
                value = option.get_attribute("title") or option.inner_text()
                option.click()
                page.keyboard.press("Escape")
                page.click('[data-test="filter-bar__apply-button"]')
            else:  # the last 30 days of the data, as a shared link carries it
                value = _last_30_days(superset, spec)
                page.goto(f"{dashboard_url}?native_filters={_time_filter_state(filter_id, value)}")
            page.wait_for_timeout(500)
            after = wait_until_drawn(page, len(dashboard.charts))
            where = f"{dashboard.title} filtered on {spec.name}={value}"
            assert failures == [], (where, failures)
            assert_drew_data(after, where)
            in_scope = [c for c in dashboard.charts if _filter_applies(superset, spec, c)]
            # a date range reaches each chart on the chart's own time column
            column = "" if spec.kind == "time" else spec.column
            carrying = [r for r in requests if column in r and value in r]
            assert in_scope and len(carrying) >= len(in_scope), (
                f"{where}: {len(carrying)} chart queries carried the filter, "
                f"{len(in_scope)} charts are in scope"
            )
            changed = [a["id"] for a, b in zip(after, before, strict=True) if a != b]
            assert changed, f"{where}: no chart changed"
    finally:
        page.close()


def _filter_applies(superset: SupersetServer, spec: NativeFilter, chart: Chart) -> bool:
    if spec.kind == "time":
        return DATASETS_BY_NAME[chart.dataset].main_dttm is not None
    return spec.column in _dataset_columns(superset, chart.dataset)


def _last_30_days(superset: SupersetServer, spec: NativeFilter) -> str:
    """A time range (Superset's `start : end`) over the last 30 days of the filter's data."""
    dataset = DATASETS_BY_NAME[spec.dataset]
    source = f"({dataset.sql}) as source" if dataset.sql else dataset.name
    ((last,),) = superset.gold(f"select cast(max({spec.column}) as date) from {source}")
    return f"{last - timedelta(days=29)} : {last + timedelta(days=1)}"


def _time_filter_state(filter_id: str, time_range: str) -> str:
    """The `native_filters` URL parameter (rison) that sets one time filter."""
    state = (
        f"('{filter_id}':(extraFormData:(time_range:'{time_range}'),"
        f"filterState:(value:'{time_range}'),id:'{filter_id}',ownState:()))"
    )
    return quote(state, safe="")


def _dataset_columns(superset: SupersetServer, dataset: str) -> set[str]:
    if dataset not in DATASET_COLUMNS_CACHE:
        path = SUPERSET_DIR / "bundles" / "datasets" / "lakehouse_serving" / f"{dataset}.yaml"
        config = yaml.safe_load(path.read_text())
        DATASET_COLUMNS_CACHE[dataset] = {c["column_name"] for c in config["columns"]}
    return DATASET_COLUMNS_CACHE[dataset]


# -- while the pipeline runs ------------------------------------------------------------------
def test_a_publish_shows_at_once_the_cached_answers_serve_until_then(superset):
    """Superset's result cache (60 s) is keyed by the publication served: a chart answered
    from the cache shows the new publication on the first request after a publish."""
    client = superset.api()
    chart = _charts_by_name(client)["Rows per gold mart (last publish)"]
    context = _saved_query_context(client, chart["id"])
    context["queries"][0]["columns"] = ["snapshot_id"]

    def ask() -> tuple[set[str], bool]:
        response = client.post("/api/v1/chart/data", json={**context, "force": False})
        assert response.status_code == 200, response.text[:300]
        result = response.json()["result"][0]
        return {row["snapshot_id"] for row in result["data"]}, bool(result["is_cached"])

    settings = superset.settings
    before = current_snapshot(settings.serving_dir)
    ask()  # fills the cache
    assert ask() == ({before}, True)
    published = publish_gold(open_lake(settings.lake_url, create=False), settings.serving_dir)
    assert published.snapshot_id != before
    assert ask() == ({published.snapshot_id}, False)
    assert ask() == ({published.snapshot_id}, True)


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
        "DATAGEN_SCALE": str(settings.scale),
        "DATAGEN_SEED": str(settings.seed),
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
                    time.sleep(USER_PAUSE_S)
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
            str(superset_executable("python")),
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
    check = [str(superset_executable("python")), "-c", "import superset_config"]
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
    """Gold published to PostgreSQL (`analytics`, read through the login role), and the
    session's Superset's serving database pointed there (the URI and engine settings a
    bootstrap with SERVING_DATABASE_URI gives it; that bootstrap itself runs in
    tests/test_server_mode.py): every chart of the bundle answers, and the Revenue and
    Payments charts show the same numbers as over DuckDB. Pointed back at DuckDB after."""
    settings = superset.settings
    publish_gold_to_postgres(postgres_database, lake=open_lake(settings.lake_url, create=False))
    password = "pg-reader-" + os.urandom(9).hex()
    grant_login(postgres_database, "superset_reader", password)
    client = superset.api_that_writes()
    charts = _charts_by_name(client)
    assert len(charts) == sum(len(d.charts) for d in DASHBOARDS)
    compared = {
        c.name for d in DASHBOARDS if d.slug in ("revenue", "payments-risk") for c in d.charts
    }
    on_duckdb = {name: _chart_rows(client, charts[name]["id"]) for name in compared}

    (database,) = client.get("/api/v1/database/").json()["result"]
    assert database["backend"] == "duckdb"
    saved = client.get(f"/api/v1/database/{database['id']}/connection").json()["result"]
    on_postgres = reader_uri(postgres_database, "superset_reader", password)
    _point_database(client, database["id"], on_postgres, extra=_without_engine_params(saved))
    try:
        (pointed,) = client.get("/api/v1/database/").json()["result"]
        assert pointed["backend"] == "postgresql"
        for name, chart in charts.items():
            rows = _chart_rows(client, chart["id"])
            assert rows or name in STREAMED_CHARTS, name
            if name in compared:
                assert _normalized(rows) == _normalized(on_duckdb[name]), name
    finally:
        _point_database(client, database["id"], saved["sqlalchemy_uri"], extra=saved["extra"])
    (restored,) = client.get("/api/v1/database/").json()["result"]
    assert restored["backend"] == "duckdb"
    name = sorted(compared)[0]
    assert _chart_rows(client, charts[name]["id"]) == on_duckdb[name]


def _chart_rows(client: httpx.Client, chart_id: int) -> list[dict]:
    """A chart's data from its saved query, bypassing Superset's data cache."""
    response = client.get(f"/api/v1/chart/{chart_id}/data/?force=true")
    assert response.status_code == 200, (chart_id, response.text[:300])
    return response.json()["result"][0]["data"]


def _without_engine_params(database: dict) -> str:
    """The database's `extra` without DuckDB's read_only connect argument (bootstrap.py sets
    it for a DuckDB URI only; psycopg2 refuses it)."""
    extra = json.loads(database["extra"] or "{}")
    extra.pop("engine_params", None)
    return json.dumps(extra)


def _point_database(client: httpx.Client, database_id: int, uri: str, extra: str) -> None:
    response = client.put(
        f"/api/v1/database/{database_id}", json={"sqlalchemy_uri": uri, "extra": extra}
    )
    assert response.status_code == 200, response.text[:500]


def _normalized(rows: list[dict]) -> list[tuple]:
    """Rows comparable across engines: numbers rounded, sorted (rows that tie on a chart's
    order, e.g. merchants of the same risk rank, come back in either order)."""

    def value(v):
        return round(float(v), 4) if isinstance(v, int | float) and not isinstance(v, bool) else v

    return sorted((tuple((k, value(v)) for k, v in sorted(row.items())) for row in rows), key=repr)
