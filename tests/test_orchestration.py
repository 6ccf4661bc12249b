"""Orchestration: the whole graph materializes for real, a failing source only fails its
own part, checks, alerts (record + webhook), the landing sensor, and config errors."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import AssetCheckResult as CheckResult
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterEventType,
    DagsterInstance,
    RunRequest,
    SkipReason,
    asset,
    asset_check,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)

from datagen.generate import GenerationRequest, generate
from ingestion.connections import load_connections
from ingestion.sync import sync_connection
from lake import open_lake
from lake.alerts import Alert, send_alert
from orchestration.assets.dbt import DBT_ASSETS
from orchestration.code_location import build_definitions
from orchestration.crm_service import crm_api_running
from orchestration.instance import prepare_dagster_home
from orchestration.pipeline import run_pipeline
from orchestration.resources import LakehouseResource
from orchestration.sensors import (
    alert_on_failed_checks,
    alert_on_run_failure,
    build_landing_sensor,
)
from orchestration.settings import REPO_ROOT, Settings
from orchestration.volume import MIN_HISTORY, is_anomalous, volume_check
from tests.shared_lake import SharedDemo

FAILING_SCALE = "0.002"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _settings(data_dir: Path, scale: str, **env: str) -> Settings:
    return Settings.from_env(
        {"DATA_DIR": str(data_dir), "DATAGEN_SCALE": scale, "DATAGEN_SEED": "7", **env}
    )


def _generate(settings: Settings) -> None:
    generate(
        GenerationRequest(settings.scale, settings.seed, settings.oltp_dsn, settings.landing_url)
    )


# -- the whole graph, as the session's first demo materialized it ----------------------------
@pytest.fixture(scope="module")
def first_demo(shared_demo: SharedDemo, tmp_path_factory) -> Iterator[DagsterInstance]:
    """The Dagster instance the session's first demo recorded into (tests/shared_lake.py:
    `run_demo` at the demo's scale, three runs: ingest, transform, publish), copied, so its
    events are read here without another pipeline run. (One run of every asset and check,
    as `dagster asset materialize --select '*'` starts it: tests/test_server_mode.py.)"""
    home = tmp_path_factory.mktemp("first-demo") / "dagster_home"
    shutil.copytree(shared_demo.after_first / "dagster_home", home)
    with DagsterInstance.from_config(str(prepare_dagster_home(home))) as instance:
        yield instance


def _events(instance: DagsterInstance, kind: DagsterEventType) -> list:
    return [
        record.event_log_entry.dagster_event
        for run in instance.get_runs()
        for record in instance.get_records_for_run(run.run_id, of_type=kind).records
    ]


@pytest.mark.integration
def test_the_demo_materializes_every_asset_and_passes_every_check(shared_demo, first_demo):
    instance = first_demo
    runs = instance.get_runs()
    assert len(runs) == 3 and all(r.is_success for r in runs), [(r.run_id, r.status) for r in runs]
    settings = Settings.from_env({"DATA_DIR": str(shared_demo.after_first)})
    graph = build_definitions(settings).resolve_asset_graph()
    materialized = {e.asset_key for e in _events(instance, DagsterEventType.ASSET_MATERIALIZATION)}
    assert materialized == set(graph.materializable_asset_keys)

    evaluations = [
        e.event_specific_data for e in _events(instance, DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed]
    assert failed == []
    names = {e.check_name for e in evaluations}
    # our own checks ran beside the dbt tests
    assert {"sync_reconciled", "volume_anomaly", "reconciled_with_bronze"} <= names
    assert any(n.startswith("freshness_check") or "freshness" in n for n in names), names
    assert any(n.startswith("relationships_stg_clickstream") for n in names)  # cross-source

    by_check = {(e.asset_key.to_user_string(), e.check_name): e for e in evaluations}
    reconciled = by_check[("staging/stg_shop__orders", "reconciled_with_bronze")]
    assert reconciled.metadata["staging_rows"].value == 10_000


@pytest.mark.integration
def test_bronze_materializations_carry_sync_metadata(first_demo):
    instance = first_demo
    event = instance.get_latest_materialization_event(AssetKey(["bronze", "shop", "orders"]))
    metadata = event.asset_materialization.metadata
    assert metadata["dagster/row_count"].value == 10_000
    for key in ("rows_dlq", "bytes", "duration_s", "state_position", "sync_id", "source_rows"):
        assert key in metadata, key
    assert metadata["state_position"].value.startswith("after (updated_at, ")
    clicks = instance.get_latest_materialization_event(
        AssetKey(["bronze", "clickstream", "events"])
    ).asset_materialization.metadata
    assert clicks["rows_dlq"].value > 0  # the malformed lines, kept in the DLQ
    assert "files, last events-" in clicks["state_position"].value


# -- a failing source fails only its own part of the graph --------------------------------
@pytest.mark.integration
def test_a_failing_source_fails_only_its_assets_and_the_models_that_read_it(tmp_path):
    connections = yaml.safe_load((REPO_ROOT / "connections.yml").read_text())
    connections["connections"]["fx"]["config"]["url"] = str(tmp_path / "no-such-landing")
    broken = tmp_path / "connections.yml"
    broken.write_text(yaml.safe_dump(connections))
    settings = _settings(tmp_path / "data", FAILING_SCALE, CONNECTIONS_FILE=str(broken))
    _generate(settings)

    defs = build_definitions(settings)
    with crm_api_running(settings.scale, settings.seed):
        outcome = run_pipeline(defs, DagsterInstance.ephemeral(), QUIET)

    assert not outcome.success
    assert outcome.failed_steps == ["sync_fx"]  # dbt itself ran and succeeded
    done = {k.to_user_string() for k in outcome.materialized}
    assert not {a for a in done if a.startswith("bronze/fx/")}
    # models that read FX (order amounts in the reporting currency) wait for it...
    assert "staging/stg_fx__rates" not in done
    assert "marts/fct_orders" not in done
    left_out = {k.to_user_string() for k in outcome.left_out}
    assert {"staging/stg_fx__rates", "marts/fct_orders", "serving/gold_catalog"} <= left_out
    # ...everything else still builds
    for expected in (
        "bronze/shop/orders",
        "bronze/clickstream/events",
        "bronze/crm/contacts",
        "staging/stg_shop__orders",
        "marts/dim_customers",
        "marts/dim_merchants",
        "marts/funnel_conversion",
        "staging/stg_crm__contacts",
        "marts/pipeline_health",
    ):
        assert expected in done, expected
    # every model that does not read FX, in one dbt invocation
    dbt = next(a for a in defs.assets if a.node_def.name == DBT_ASSETS)
    models = {k.to_user_string() for k in dbt.keys}
    assert models - left_out <= done
    # (30 of them: the risk models read FX too, for amounts in the reporting currency)
    assert len(models - left_out) >= 30


# -- volume anomaly -----------------------------------------------------------------------
def test_volume_anomaly_needs_history_then_flags_outliers():
    assert is_anomalous(100, [100, 102, 98, 101, 99])[0] is False
    assert is_anomalous(500, [100, 102, 98, 101, 99])[0] is True
    assert is_anomalous(0, [0, 0, 0, 0, 0])[0] is False

    instance = DagsterInstance.ephemeral()
    key = AssetKey(["bronze", "shop", "orders"])
    for rows in [100, 103, 97, 101][: MIN_HISTORY - 1]:
        instance.report_runless_asset_event(
            AssetMaterialization(key, metadata={"dagster/row_count": rows})
        )
    early = volume_check(instance, key, "volume_anomaly", 10_000, run_id="now")
    assert early.passed and "fewer than" in early.metadata["note"].value
    for rows in [99, 100]:
        instance.report_runless_asset_event(
            AssetMaterialization(key, metadata={"dagster/row_count": rows})
        )
    assert volume_check(instance, key, "volume_anomaly", 101, run_id="now").passed
    outlier = volume_check(instance, key, "volume_anomaly", 10_000, run_id="now")
    assert not outlier.passed
    assert outlier.metadata["history_points"].value == 6


# -- alerts -------------------------------------------------------------------------------
class _Recorder(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Recorder.received.append(
            {"body": json.loads(body), "type": self.headers["Content-Type"], "path": self.path}
        )
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    _Recorder.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts", _Recorder.received
    server.shutdown()
    server.server_close()


def _alerts(lake) -> list[dict]:
    return [lake.read_json(f.path) for f in lake.list_files(lake.path("_ops", "alerts"))]


def test_an_alert_is_recorded_and_posted_as_a_slack_message(tmp_path, webhook):
    url, received = webhook
    lake = open_lake(str(tmp_path / "lake"))
    path = send_alert(lake, Alert("run_failure", "sync failed", ["step `sync_fx`: boom"]), url)
    assert path.startswith(lake.path("_ops", "alerts")) and path.endswith("-run_failure.json")
    [record] = _alerts(lake)
    assert record["webhook"] == "delivered" and record["title"] == "sync failed"
    [request] = received
    assert request["path"] == "/hooks/alerts"
    assert request["type"] == "application/json"
    assert "sync failed" in request["body"]["text"] and "sync_fx" in request["body"]["text"]


def test_an_unreachable_webhook_still_leaves_the_record(tmp_path):
    lake = open_lake(str(tmp_path / "lake"))
    send_alert(lake, Alert("check_failure", "x"), "http://127.0.0.1:9/unreachable")
    [record] = _alerts(lake)
    assert record["webhook"].startswith("failed:")


@asset
def always_fails():
    raise RuntimeError("the source is unreachable")


@asset
def small_table():
    return 1


@asset_check(asset=small_table)
def never_empty():
    return CheckResult(passed=False, metadata={"rows": 0})


def _run_event(instance: DagsterInstance, run_id: str, kind: DagsterEventType):
    [record] = instance.all_logs(run_id, of_type=kind)
    return record.dagster_event


def test_a_failed_run_and_a_failed_check_each_raise_an_alert(tmp_path, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv("ALERT_WEBHOOK_URL", url)
    settings = _settings(tmp_path, FAILING_SCALE)
    lakehouse = LakehouseResource.from_settings(settings)
    lake = lakehouse.lake()
    instance = DagsterInstance.ephemeral()

    failed = materialize([always_fails], instance=instance, raise_on_error=False)
    context = build_run_status_sensor_context(
        sensor_name="alert_on_run_failure",
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(failed.run_id),
        dagster_event=_run_event(instance, failed.run_id, DagsterEventType.RUN_FAILURE),
    ).for_run_failure()
    alert_on_run_failure(context, lakehouse=lakehouse)

    checked = materialize([small_table, never_empty], instance=instance)
    context = build_run_status_sensor_context(
        sensor_name="alert_on_failed_checks",
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(checked.run_id),
        dagster_event=_run_event(instance, checked.run_id, DagsterEventType.RUN_SUCCESS),
    )
    alert_on_failed_checks(context, lakehouse=lakehouse)

    records = sorted(_alerts(lake), key=lambda r: r["created_at"])
    assert [r["kind"] for r in records] == ["run_failure", "check_failure"]
    assert "the source is unreachable" in records[0]["details"]["steps"][0]["error"]
    assert records[1]["details"]["checks"] == [
        {"asset": "small_table", "check": "never_empty", "severity": "ERROR"}
    ]
    assert len(received) == 2 and "never_empty" in received[1]["body"]["text"]


# -- landing sensor -----------------------------------------------------------------------
def test_new_landing_files_start_the_files_connection_once(tmp_path):
    settings = _settings(tmp_path, FAILING_SCALE)
    landing = Path(settings.landing_url) / "fx_rates"
    landing.mkdir(parents=True)
    (landing / "rates-2026-01.csv").write_text(
        "rate_date,quote_currency,rate\n2026-01-01,EUR,0.9\n"
    )
    connections = load_connections(settings.connections_file, settings.interpolation_env())
    lakehouse = LakehouseResource.from_settings(settings)
    sensor = build_landing_sensor("fx", connections.connections["fx"])

    def evaluate():
        return sensor(build_sensor_context(resources={"lakehouse": lakehouse}))

    request = evaluate()
    assert isinstance(request, RunRequest)
    assert request.asset_selection == [AssetKey(["bronze", "fx", "rates"])]
    assert evaluate().run_key == request.run_key  # the same files ask for the same run

    sync_connection(lakehouse.lake(), "fx", connections.connections["fx"])
    assert isinstance(evaluate(), SkipReason)
    (landing / "rates-2026-02.csv").write_text(
        "rate_date,quote_currency,rate\n2026-02-01,EUR,0.91\n"
    )
    assert evaluate().run_key != request.run_key


# -- schedules and sensors are defined ----------------------------------------------------
def test_schedules_follow_the_connections_file_and_start_stopped(tmp_path):
    defs = build_definitions(_settings(tmp_path, FAILING_SCALE))
    schedules = {s.name: s for s in defs.schedules}
    assert schedules["scheduled_shop_clickstream_crm_schedule"].cron_schedule == "*/15 * * * *"
    assert schedules["scheduled_fx_schedule"].cron_schedule == "0 6 * * *"
    assert "nightly_full_refresh_schedule" in schedules
    assert {s.default_status.value for s in defs.schedules} == {"STOPPED"}
    sensors = {s.name: s.default_status.value for s in defs.sensors}
    assert sensors["landing_clickstream"] == sensors["landing_fx"] == "RUNNING"
    assert sensors["alert_on_run_failure"] == sensors["alert_on_failed_checks"] == "RUNNING"
    assert sensors["automation"] == "RUNNING"
    assert sensors["freshness_checks_sensor"] == "STOPPED"
    job = defs.resolve_job_def("scheduled_shop_clickstream_crm")
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert {"bronze/shop/orders", "staging/stg_shop__orders", "marts/fct_orders"} <= keys
    assert "bronze/fx/rates" not in keys


# -- a bad connections file: file and key, from the CLI --------------------------------------
BAD_KEY = "connections.fx.streams[0].format"


@pytest.fixture
def bad_connections(tmp_path) -> Path:
    connections = yaml.safe_load((REPO_ROOT / "connections.yml").read_text())
    connections["connections"]["fx"]["streams"][0]["format"] = "xlsx"
    path = tmp_path / "bad-connections.yml"
    path.write_text(yaml.safe_dump(connections))
    return path


def _cli(args: list[str], bad: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CONNECTIONS_FILE": str(bad), "DATA_DIR": str(tmp_path / "data")}
    env["DAGSTER_HOME"] = str(tmp_path)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)


def test_a_bad_connections_file_is_named_with_its_key_by_the_lakehouse_cli(
    bad_connections, tmp_path
):
    result = _cli(
        [sys.executable, "-m", "orchestration.cli", "connections"], bad_connections, tmp_path
    )
    assert result.returncode == 2
    assert str(bad_connections) in result.stderr and BAD_KEY in result.stderr


@pytest.mark.integration
def test_a_bad_connections_file_is_named_with_its_key_by_the_dagster_cli(bad_connections, tmp_path):
    dagster = str(Path(sys.executable).parent / "dagster")
    args = [dagster, "definitions", "validate", "-m", "orchestration.definitions"]
    result = _cli(args, bad_connections, tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert str(bad_connections) in output and BAD_KEY in output
