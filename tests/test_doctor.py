"""`lakehouse doctor` against real services: the embedded default in a fresh DATA_DIR, the
server-mode configuration on a real PostgreSQL server and an S3 endpoint (moto's server),
and services that are down (closed ports).

The Dagster webserver and Superset probes are plain HTTP GETs (`/server_info`, `/health`);
here they hit a small local HTTP server that answers those two paths, not a real Dagster or
Superset (tests/test_make_ui.py and tests/test_superset.py start the real ones).
"""

from __future__ import annotations

import http.server
import shutil
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lake import open_lake
from lake.tables.catalog import connect, current_snapshot
from orchestration.cli import main
from orchestration.doctor import FAIL, OK, WARN, run_checks
from orchestration.settings import Settings

pytestmark = pytest.mark.integration

SETTINGS_VARIABLES = (
    "LAKE_URL",
    "LAKE_S3_ENDPOINT",
    "LAKE_S3_ACCESS_KEY_ID",
    "LAKE_S3_SECRET_ACCESS_KEY",
    "OLTP_DSN",
    "LANDING_URL",
    "DUCKDB_PATH",
    "DBT_TARGET",
    "DBT_PG_HOST",
    "DBT_PG_PORT",
    "DBT_PG_USER",
    "DBT_PG_PASSWORD",
    "DBT_PG_DATABASE",
    "DBT_PG_SCHEMA",
    "SERVING_PG_DSN",
    "SERVING_DATABASE_URI",
    "CONNECTIONS_FILE",
    "DAGSTER_HOME",
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USER",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
    "DAGSTER_URL",
    "SUPERSET_URL",
    "SHOP_SOURCE",
)


@pytest.fixture
def clean_env(monkeypatch, tmp_path) -> Path:
    """A fresh DATA_DIR and none of the settings variables: the embedded default."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    return data_dir


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        known = self.path in ("/server_info", "/health")
        self.send_response(200 if known else 404)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"OK" if known else b"no")

    def log_message(self, *args):
        pass


@pytest.fixture
def http_ui() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _by_component(checks) -> dict:
    return {c.component: c for c in checks}


def test_fresh_embedded_default_warns_about_what_is_not_created_yet(clean_env, capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "lakehouse doctor" in out
    checks = _by_component(run_checks(Settings.from_env()))
    assert checks["lake"].status == WARN
    assert checks["OLTP source"].status == WARN
    assert checks["serving"].status == WARN
    assert checks["connections"].status == OK
    assert checks["lake tables"].status == WARN
    assert "the first dbt build creates it" in checks["lake tables"].detail
    assert checks["Dagster webserver"].status == "-"
    assert "not created yet" in out
    assert not (clean_env / "lake.sqlite").exists()  # the doctor creates no catalog


def test_embedded_default_with_a_lake_and_an_oltp_answers(clean_env):
    open_lake(str(clean_env / "lake"))  # creates the layer folders
    with sqlite3.connect(clean_env / "shop.db") as conn:
        conn.execute("create table orders (order_id integer)")
    (clean_env / "dagster_home").mkdir()
    checks = _by_component(run_checks(Settings.from_env()))
    assert checks["lake"].status == OK, checks["lake"].detail
    assert "wrote and deleted a probe" in checks["lake"].detail
    assert not list((clean_env / "lake" / "_ops").iterdir())  # the probe is gone
    assert checks["OLTP source"].status == OK
    assert "1 tables" in checks["OLTP source"].detail
    assert checks["Dagster home"].status == OK
    assert checks["engine"].setting.startswith("dbt target duckdb")


def test_the_lake_tables_catalog_is_attached_read_only_and_a_broken_one_fails(clean_env):
    lake = open_lake(str(clean_env / "lake"))
    tables = Settings.from_env().table_catalog(lake.uri())
    with connect(tables) as writer:
        writer.execute("create table lake.main.t as select 1 as id")
        snapshot = current_snapshot(writer)
    check = _by_component(run_checks(Settings.from_env()))["lake tables"]
    assert check.status == OK, check.detail
    assert check.detail == f"attached read-only; snapshot {snapshot}, 1 tables"
    assert check.setting == f"DuckLake catalog sqlite:{clean_env / 'lake.sqlite'}"

    (clean_env / "lake.sqlite").write_bytes(b"not a catalog" * 100)
    check = _by_component(run_checks(Settings.from_env()))["lake tables"]
    assert check.status == FAIL
    assert check.detail.startswith(f"the lake's catalog {clean_env / 'lake.sqlite'} cannot be")
    assert "nothing was changed" in check.detail
    assert (clean_env / "lake.sqlite").read_bytes() == b"not a catalog" * 100


@pytest.fixture
def server_mode_env(monkeypatch, clean_env, postgres_server, postgres_database, s3_endpoint):
    """The server-mode variables, pointed at the test PostgreSQL server and S3 endpoint."""
    for name, value in s3_endpoint.env.items():
        monkeypatch.setenv(name, value)
    bucket = "doctor-lake"
    monkeypatch.setenv("LAKE_URL", f"s3://{bucket}")
    open_lake(f"s3://{bucket}")  # what minio-init does in compose
    # trust authentication ignores the password; it is there to be redacted
    host, port = postgres_server.host, postgres_server.port
    database = postgres_database.rsplit("/", 1)[1]
    monkeypatch.setenv("OLTP_DSN", f"postgresql://postgres:Sh0pSecret@{host}:{port}/{database}")
    monkeypatch.setenv("DBT_TARGET", "postgres")
    for name, value in {
        "DBT_PG_HOST": host,
        "DBT_PG_PORT": str(port),
        "DBT_PG_USER": "postgres",
        "DBT_PG_PASSWORD": "DbtSecret",
        "DBT_PG_DATABASE": database,
        "DBT_PG_SCHEMA": "analytics",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(
        "SERVING_PG_DSN", f"postgresql://postgres:PubSecret@{host}:{port}/{database}"
    )
    monkeypatch.setenv(
        "SERVING_DATABASE_URI",
        f"postgresql+psycopg2://postgres:ReaderSecret@{host}:{port}/{database}",
    )
    home = clean_env / "dagster_home"
    home.mkdir(parents=True)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return bucket


def test_server_mode_configuration_answers(server_mode_env, http_ui, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_URL", http_ui)
    monkeypatch.setenv("SUPERSET_URL", http_ui)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for secret in ("Sh0pSecret", "DbtSecret", "PubSecret", "ReaderSecret"):
        assert secret not in out
    assert "***" in out
    checks = _by_component(run_checks(Settings.from_env()))
    for component in (
        "lake",
        "OLTP source",
        "engine",
        "serving (publisher)",
        "serving (readers)",
        "connections",
        "Dagster home",
        "Dagster webserver",
        "Superset",
    ):
        assert checks[component].status == OK, (component, checks[component].detail)
    assert checks["lake"].setting.startswith(f"s3://{server_mode_env} (endpoint http://127.0.0.1:")
    assert "wal_level=logical" in checks["OLTP source"].detail
    assert checks["OLTP source"].setting.endswith("(CDC)")
    assert "connections: shop (postgres_cdc)" in checks["connections"].detail
    assert checks["Superset"].detail.startswith("GET /health -> HTTP 200")


def test_down_services_fail_with_a_clear_line_and_exit_1(server_mode_env, monkeypatch, capsys):
    down = _closed_port()
    monkeypatch.setenv("OLTP_DSN", f"postgresql://shop:Sh0pSecret@127.0.0.1:{down}/shop")
    monkeypatch.setenv("LAKE_S3_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("DAGSTER_URL", f"http://127.0.0.1:{_closed_port()}")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "Sh0pSecret" not in out
    assert "required service(s) do not answer" in out
    checks = _by_component(run_checks(Settings.from_env()))
    oltp = checks["OLTP source"]
    assert oltp.status == FAIL
    assert oltp.detail.startswith(f"cannot connect to postgresql://shop:***@127.0.0.1:{down}/shop")
    assert checks["lake"].status == FAIL
    assert checks["lake"].detail.startswith("cannot list or write s3://doctor-lake")
    assert checks["Dagster webserver"].status == FAIL
    assert "Connection refused" in checks["Dagster webserver"].detail
    assert checks["engine"].status == OK  # the others still answer


def test_a_missing_bucket_is_a_failure_not_created_by_the_doctor(server_mode_env, monkeypatch):
    monkeypatch.setenv("LAKE_URL", "s3://no-such-bucket-here")
    checks = _by_component(run_checks(Settings.from_env()))
    assert checks["lake"].status == FAIL
    assert "bucket no-such-bucket-here does not exist" in checks["lake"].detail
    import pyarrow.fs as pafs

    from lake import Lake

    lake = Lake.from_url("s3://no-such-bucket-here")
    assert lake.fs.get_file_info("no-such-bucket-here").type == pafs.FileType.NotFound


def test_dagster_storage_in_postgresql_needs_its_variables_and_its_server(clean_env, monkeypatch):
    """Server mode's instance file (docker/dagster/dagster.yaml) in DAGSTER_HOME: the doctor
    names a missing DAGSTER_PG_* variable, then a server that does not answer."""
    home = clean_env / "dagster_home"
    home.mkdir(parents=True)
    instance = Path(__file__).resolve().parent.parent / "docker" / "dagster" / "dagster.yaml"
    shutil.copyfile(instance, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    storage = _by_component(run_checks(Settings.from_env()))["Dagster storage"]
    assert storage.status == FAIL
    assert storage.detail == "DAGSTER_PG_USER is not set (the Dagster instance reads it)"

    down = _closed_port()
    for name, value in {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(down),
        "DAGSTER_PG_USER": "dagster",
        "DAGSTER_PG_PASSWORD": "DagsterSecret",
        "DAGSTER_PG_DB": "dagster",
    }.items():
        monkeypatch.setenv(name, value)
    storage = _by_component(run_checks(Settings.from_env()))["Dagster storage"]
    assert storage.status == FAIL and storage.required
    assert storage.setting == f"PostgreSQL postgresql://dagster:***@127.0.0.1:{down}/dagster"
    assert storage.detail.startswith("cannot connect to postgresql://dagster:***@")
