"""Server mode end to end, without containers: the services compose starts, started here.

- PostgreSQL (a module-private server that asks for passwords, wal_level=logical),
  initialised by docker/postgres/init.sh exactly as the postgres image runs it, so every part
  uses its real least-privilege role: shop (OLTP, CDC), dagster (instance storage), analytics
  (dbt --target postgres and the serving schema's publisher), superset (metadata),
  superset_reader (dashboards, read-only);
- the lake in a bucket on an S3 endpoint (moto's server; MinIO cannot be installed here);
- the pipeline's environment translated from compose's own `x-pipeline` block (service
  addresses and container paths mapped to this machine, secrets to the roles' passwords);
- every asset materialized by the real `dagster` CLI with the server-mode instance file
  (docker/dagster/dagster.yaml: runs and events in PostgreSQL), first with dbt on DuckDB over
  the bucket, then, after a change set with deletes, with DBT_TARGET=postgres;
- after the DuckDB run, its lake: silver and gold as DuckLake tables whose catalog is in
  PostgreSQL (init.sh's lake_catalog database and role) and whose data files are in the
  bucket, read by DuckDB's httpfs with no fsspec in between; the published snapshot read
  through a read-only reader while a writer commits; the catalog setting's validation;
- Superset with its metadata in the `superset` database, reading the serving schema as
  superset_reader, every chart answering.

What this cannot show: the images and containers themselves, and MinIO (docs/server-mode.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import psycopg
import pytest
import yaml
from conftest import ServerModeCluster, running_postgres, server_mode_cluster

from datagen.changes import ChangeSet, apply_changes
from datagen.generate import GenerationRequest, generate
from lake import Lake
from lake.location import parse_lake_url
from lake.tables import publications
from lake.tables.catalog import CatalogError, TableCatalog, connect, current_snapshot
from orchestration.bi import (
    bootstrap,
    start_superset,
    stop_superset,
    superset_env,
    superset_executable,
    wait_until_healthy,
)
from orchestration.crm_service import crm_api_running
from orchestration.doctor import FAIL, OK, run_checks
from orchestration.resources import ensure_dbt_manifest
from orchestration.serving_layers import ServingConfigError, serving_layers
from orchestration.settings import PG_CATALOG_TARGET, REPO_ROOT, Settings, exported
from serving.duckdb_catalog import ATTACHMENT_TABLE, META_SCHEMA, catalog_path, open_served
from serving.postgres_schema import reader_uri
from tests.ports import free_port
from tests.test_superset import STREAMED_CHARTS  # the live dashboard's charts

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DAGSTER_INSTANCE = REPO_ROOT / "docker" / "dagster" / "dagster.yaml"
DAGSTER = str(REPO_ROOT / ".venv" / "bin" / "dagster")
SCALE, SEED = 0.002, 29  # 2,000 orders
LAKE_CATALOG_ROLE = "lake_catalog"  # init.sh's role and database of the DuckLake catalog
BUCKET = "lakehouse-server-mode"
# what compose points at services this test does not start (lakehouse doctor's HTTP probes)
NOT_STARTED_HERE = {"DAGSTER_URL", "SUPERSET_URL"}
# variables of the test process that must not leak into the pipeline's environment
PIPELINE_PREFIXES = ("LAKE_", "DBT_", "DAGSTER_", "SERVING_", "SUPERSET_", "AIRBYTE_", "CRM_")
PIPELINE_NAMES = {"DATA_DIR", "DUCKDB_PATH", "OLTP_DSN", "LANDING_URL", "CONNECTIONS_FILE"}


# -- compose's environment on this machine ----------------------------------------------------
_INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}")


def compose_environment(
    service: str, variables: Mapping[str, str], addresses: Addresses
) -> dict[str, str]:
    """A service's environment as compose sets it from an env file holding `variables`, with
    each compose address (a host, a port, a container path, a host inside a URL) mapped to
    its counterpart here."""
    config = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))  # merges x-pipeline

    def interpolate(match: re.Match) -> str:
        name, kind, default = match.groups()
        value = variables.get(name, "")
        if not value and kind == "?":
            raise AssertionError(f"compose requires {name}: give it to compose_environment")
        if not value and kind == "-":
            return default
        return value

    environment = {}
    for name, value in config["services"][service]["environment"].items():
        if name in NOT_STARTED_HERE:
            continue
        value = _INTERPOLATION.sub(interpolate, str(value))
        value = addresses.values.get(value, value)
        for there, here in addresses.in_urls.items():
            value = value.replace(there, here)
        environment[name] = value
    unmapped = {k: v for k, v in environment.items() if _COMPOSE_ADDRESS.search(v)}
    assert not unmapped, f"compose addresses this test does not map yet: {unmapped}"
    return environment


_COMPOSE_ADDRESS = re.compile(r"^postgres$|@postgres:|://minio:|^/(data|opt|app)(/|$)")


@dataclass(frozen=True)
class Addresses:
    values: dict[str, str]  # whole values: a host name, a port, a container path
    in_urls: dict[str, str]  # parts of URLs


@dataclass(frozen=True)
class ServerMode:
    cluster: ServerModeCluster
    env: dict[str, str]  # the pipeline's, as compose's x-pipeline sets it
    compose_variables: dict[str, str]  # compose's .env: the roles' passwords and the rest
    addresses: Addresses
    data_dir: Path
    dagster_home: Path

    def lake(self) -> Lake:
        location = parse_lake_url(self.env["LAKE_URL"], self.env)
        return Lake(location=location, fs=location.filesystem())

    def process_env(self, **overrides: str) -> dict[str, str]:
        """The test's environment without any pipeline setting, then the pipeline's."""
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(PIPELINE_PREFIXES) and k not in PIPELINE_NAMES
        }
        return {**clean, **self.env, **overrides}


def query(dsn: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else []


def oltp_orders(mode: ServerMode) -> tuple[int, int]:
    """(orders, sum of order totals in cents) in the shop, read as its owner."""
    return query(
        mode.cluster.dsn("shop", "shop"), "select count(*), sum(order_total_cents) from orders"
    )[0]


def served_orders(mode: ServerMode) -> tuple[int, int]:
    """The same figures from the serving schema, read as Superset's read-only login."""
    reader = mode.cluster.dsn("analytics", "superset_reader")
    return query(reader, "select count(*), sum(order_total_cents) from analytics.fct_orders")[0]


# -- the services -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server_mode(s3_endpoint, tmp_path_factory) -> Iterator[ServerMode]:
    with running_postgres(password_auth=True) as server, server_mode_cluster(server) as cluster:
        root = tmp_path_factory.mktemp("server-mode")
        data_dir, dagster_home = root / "data", root / "dagster_home"
        dagster_home.mkdir()
        # what the image does: the instance file at DAGSTER_HOME, storage beneath it
        shutil.copyfile(DAGSTER_INSTANCE, dagster_home / "dagster.yaml")
        variables = {
            **cluster.passwords,
            "LAKE_BUCKET": BUCKET,
            "LAKE_S3_ACCESS_KEY_ID": s3_endpoint.env["LAKE_S3_ACCESS_KEY_ID"],
            "LAKE_S3_SECRET_ACCESS_KEY": s3_endpoint.env["LAKE_S3_SECRET_ACCESS_KEY"],
            "CONNECTIONS_FILE": str(REPO_ROOT / "connections.yml"),
            "DBT_TARGET": "",
        }
        host, port = server.host, str(server.port)
        addresses = Addresses(
            values={
                "postgres": host,  # DBT_PG_HOST, DAGSTER_PG_HOST
                "5432": port,
                "/data": str(data_dir),
                "/data/warehouse.duckdb": str(data_dir / "warehouse.duckdb"),
                "/opt/dagster/home": str(dagster_home),
            },
            in_urls={"@postgres:5432/": f"@{host}:{port}/", "http://minio:9000": s3_endpoint.url},
        )
        env = compose_environment("pipeline", variables, addresses)
        mode = ServerMode(cluster, env, variables, addresses, data_dir, dagster_home)
        mode.lake().bootstrap()  # what minio-init does: the bucket exists before the pipeline
        ensure_dbt_manifest()  # the image parses at build time; no step may re-parse
        yield mode


@pytest.fixture(scope="module")
def crm_api() -> Iterator[dict[str, str]]:
    """datagen's CRM REST API on loopback, as the demo serves it (an outside system)."""
    with crm_api_running(SCALE, SEED):
        yield {k: os.environ[k] for k in ("CRM_API_URL", "CRM_API_TOKEN")}


# One process for the whole run: the multiprocess executor (what a daemon's run worker uses)
# loads the code location again for each of the ~20 steps, which doubled the test's time.
IN_PROCESS = json.dumps({"execution": {"config": {"in_process": {}}}})


def materialize_everything(mode: ServerMode, crm: dict[str, str], name: str, **env) -> float:
    """`dagster asset materialize --select '*'`: the real CLI, the server-mode instance."""
    log = mode.data_dir.parent / f"{name}.log"
    command = [DAGSTER, "asset", "materialize", "-m", "orchestration.definitions"]
    started = time.perf_counter()
    with log.open("w") as output:
        result = subprocess.run(
            [*command, "--select", "*", "--config-json", IN_PROCESS],
            cwd=REPO_ROOT,
            env=mode.process_env(**crm, **env),
            stdout=output,
            stderr=output,
            timeout=900,
        )
    seconds = time.perf_counter() - started
    print(f"{name}: dagster asset materialize in {seconds:.0f} s")
    assert result.returncode == 0, log.read_text()[-6000:]
    return seconds


def dagster_runs(mode: ServerMode) -> list[tuple[str, str]]:
    """(run id, status) of every run, read from the dagster database as role dagster."""
    return query(
        mode.cluster.dsn("dagster", "dagster"),
        "select run_id, status from runs order by create_timestamp",
    )


def failed_checks(mode: ServerMode, run_id: str) -> list[tuple]:
    return query(
        mode.cluster.dsn("dagster", "dagster"),
        "select asset_key, check_name, execution_status from asset_check_executions "
        "where run_id = %s and execution_status <> 'SUCCEEDED'",
        run_id,
    )


def latest_materialization(mode: ServerMode, key: list[str]) -> dict:
    """The metadata of an asset's latest materialization, from the dagster database."""
    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.from_config(str(mode.dagster_home)) as instance:
        event = instance.get_latest_materialization_event(AssetKey(key))
        assert event is not None, key
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}


@pytest.fixture(scope="module")
def duckdb_run(server_mode, crm_api) -> float:
    """Sources generated into the OLTP, then every asset with dbt on DuckDB over the bucket."""
    generate(
        GenerationRequest(
            SCALE, SEED, server_mode.env["OLTP_DSN"], str(server_mode.data_dir / "landing")
        )
    )
    return materialize_everything(server_mode, crm_api, "duckdb_s3")


@pytest.fixture(scope="module")
def postgres_run(server_mode, crm_api, duckdb_run) -> ChangeSet:
    """A change set with deletes in the OLTP, then every asset with DBT_TARGET=postgres."""
    changes = apply_changes(server_mode.env["OLTP_DSN"], 0.05, SEED, deletes=True)
    assert changes.deleted > 0
    materialize_everything(server_mode, crm_api, "postgres", DBT_TARGET="postgres")
    return changes


# -- the runs ---------------------------------------------------------------------------------
@pytest.mark.integration
def test_dbt_on_duckdb_over_the_bucket_publishes_to_the_postgresql_serving_schema(
    server_mode, duckdb_run, monkeypatch
):
    mode = server_mode
    ((run_id, status),) = dagster_runs(mode)  # in the dagster database, read as its owner
    assert status == "SUCCESS"
    assert failed_checks(mode, run_id) == []

    # the lake is the bucket: every layer there, nothing in a local folder
    lake = mode.lake()
    for layer in ("bronze", "silver", "gold"):
        assert lake.list_files(lake.path(layer), suffix=".parquet"), layer
    assert not (mode.data_dir / "lake").exists()
    # silver and gold's DuckLake catalog is compose's lake_catalog database, not a local file
    assert not list(mode.data_dir.glob("*.sqlite"))
    catalog = mode.cluster.dsn("lake_catalog", "lake_catalog")
    assert query(catalog, "select count(*) from ducklake_table where end_snapshot is null")[0][0]
    # the shop was read through its replication slot (as role shop)
    state = lake.read_json(lake.path("_ops", "state", "shop.json"))
    assert '"lsn"' in json.dumps(state)

    # Superset's login reads the serving schema and cannot change it
    reader = mode.cluster.dsn("analytics", "superset_reader")
    with psycopg.connect(reader, autocommit=True) as conn:
        conn.execute("set default_transaction_read_only = off")  # its privileges refuse anyway
        for sql in ("create table analytics.mine (i int)", "delete from analytics.fct_orders"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
    for other in ("shop", "dagster", "superset"):
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(mode.cluster.dsn(other, "superset_reader")).close()
    orders, cents = oltp_orders(mode)
    assert orders >= 2_000 and served_orders(mode) == (orders, cents)

    # where the serving asset published: the embedded catalog and PostgreSQL, no secret shown
    for name, value in mode.env.items():
        monkeypatch.setenv(name, value)
    published = latest_materialization(mode, ["serving", "gold_catalog"])
    assert published["published_to"][0].startswith("DuckDB catalog")
    assert published["published_to"][1].endswith("/analytics schema analytics")
    assert published["postgres_source"] == "gold Parquet in the lake"
    assert mode.cluster.password("analytics") not in json.dumps(published)
    dashboard = latest_materialization(mode, ["dashboards", "revenue_dashboard"])
    assert dashboard["serving"].startswith("PostgreSQL postgresql://analytics:***@")
    assert all(rows > 0 for rows in dashboard["rows_per_mart"].values())


# -- the lake of the DuckDB run: DuckLake tables, catalog in PostgreSQL, files in the bucket --
def lake_settings(mode: ServerMode) -> Settings:
    return Settings.from_env(mode.env)


def table_catalog(mode: ServerMode) -> TableCatalog:
    with exported(mode.env):
        return lake_settings(mode).table_catalog(mode.lake().uri())


def catalog_rows(mode: ServerMode, sql: str) -> list[tuple]:
    """The catalog database read as its own role, as DuckLake wrote it."""
    return query(mode.cluster.dsn(LAKE_CATALOG_ROLE, LAKE_CATALOG_ROLE), sql)


@pytest.mark.integration
def test_dbt_builds_gold_as_ducklake_tables_in_the_bucket_with_the_catalog_in_postgresql(
    server_mode, duckdb_run
):
    mode = server_mode
    assert lake_settings(mode).resolved_dbt_target == PG_CATALOG_TARGET
    # the catalog is the lake_catalog database, written as its own role
    (owner,) = catalog_rows(
        mode, "select tableowner from pg_tables where tablename = 'ducklake_metadata'"
    )[0]
    assert owner == LAKE_CATALOG_ROLE
    # every live data file of a gold table, as the catalog lists it, is an object in the
    # bucket under gold/<table>/ (the schema's folder + the table's + the file's own path)
    live = catalog_rows(
        mode,
        "select t.table_name, s.path || t.path || f.path from ducklake_data_file f "
        "join ducklake_table t on t.table_id = f.table_id and t.end_snapshot is null "
        "join ducklake_schema s on s.schema_id = t.schema_id and s.end_snapshot is null "
        "where s.schema_name = 'marts' and f.end_snapshot is null",
    )
    assert {table for table, _ in live} >= {"fct_orders", "daily_revenue", "dim_customers"}
    lake = mode.lake()
    in_bucket = {
        info.path.removeprefix(lake.path() + "/")
        for info in lake.list_files(lake.path("gold"), suffix=".parquet")
    }
    for table, key in live:
        assert key.startswith(f"gold/{table}/") and key in in_bucket, (table, key)
    # read through the catalog, gold has every order of the OLTP (no change set yet)
    with connect(table_catalog(mode), read_only=True) as reader:
        gold = reader.execute(
            "select count(*), sum(order_total_cents) from lake.marts.fct_orders"
        ).fetchone()
    assert gold == oltp_orders(mode)


@pytest.mark.integration
def test_a_read_only_reader_sees_the_published_snapshot_while_a_writer_commits(
    server_mode, duckdb_run
):
    mode = server_mode
    tables, lake = table_catalog(mode), mode.lake()
    (published,) = [p for p in publications.history(lake) if p.action == publications.PUBLISH]
    served_catalog = catalog_path(lake_settings(mode).serving_dir)
    delete = "delete from lake.marts.fct_orders where order_id % 4 = 0"

    with open_served(served_catalog, tables) as reader:
        (statement,) = reader.execute(
            f"select statement from {META_SCHEMA}.{ATTACHMENT_TABLE}"
        ).fetchone()
        # what the serving catalog stores names the catalog, never its password
        password = mode.cluster.password(LAKE_CATALOG_ROLE)
        assert password not in statement and "META_SECRET" in statement
        before = reader.execute("select count(*) from analytics.fct_orders").fetchone()[0]
        assert before == published.models["fct_orders"] == oltp_orders(mode)[0]

        with connect(tables) as writer:  # a build committing after the publish
            writer.execute(delete)
            latest = current_snapshot(writer)
        assert latest > published.lake_snapshot_id
        # the reader still sees the published snapshot; the latest is there for anyone else
        assert reader.execute("select count(*) from analytics.fct_orders").fetchone() == (before,)
    with connect(tables, read_only=True) as newest:
        (after,) = newest.execute("select count(*) from lake.marts.fct_orders").fetchone()
        assert 0 < after < before
        with pytest.raises(duckdb.Error, match=r"read-only|read only"):
            newest.execute("delete from lake.marts.fct_orders")
    with connect(tables, read_only=True, snapshot=published.lake_snapshot_id) as pinned:
        assert pinned.execute("select count(*) from lake.marts.fct_orders").fetchone() == (before,)

    # the lake as the run left it, for the tests after this one: the rows back from the
    # published snapshot (time travel)
    with connect(tables) as writer:
        writer.execute(
            "insert into lake.marts.fct_orders select * from lake.marts.fct_orders "
            f"at (version => {published.lake_snapshot_id}) where order_id % 4 = 0"
        )
        assert writer.execute("select count(*) from lake.marts.fct_orders").fetchone() == (before,)


@pytest.mark.integration
def test_a_wrong_password_fails_naming_the_catalog_without_any_password(server_mode, duckdb_run):
    mode = server_mode
    tables = table_catalog(mode)
    wrong = TableCatalog.of(
        tables.catalog, tables.data_path, {**mode.env, "LAKE_CATALOG_PASSWORD": "nope-x1"}
    )
    with pytest.raises(CatalogError) as failure:
        connect(wrong, read_only=True)
    message = str(failure.value)
    assert message.startswith(f"cannot attach the lake's catalog PostgreSQL {wrong.catalog[9:]}")
    assert "password authentication failed" in message and "LAKE_CATALOG_PASSWORD" in message
    assert "nope-x1" not in message
    assert mode.cluster.password(LAKE_CATALOG_ROLE) not in message


def test_the_postgresql_catalog_setting_is_validated_and_holds_no_password():
    normal = "postgres:host=db port=5432 dbname=lake_catalog user=lake_catalog"
    for value in (normal, "postgresql://lake_catalog@db:5432/lake_catalog"):
        settings = Settings.from_env({"DATA_DIR": "/tmp/x", "LAKE_CATALOG": value})
        assert settings.lake_catalog == normal
        assert settings.resolved_dbt_target == PG_CATALOG_TARGET
    env = {"LAKE_CATALOG_PASSWORD": "s3cr3t-pw", "LAKE_S3_SECRET_ACCESS_KEY": "s3-key-x"}
    tables = TableCatalog.of(normal, "s3://bucket/lake", env)
    assert tables.password == "s3cr3t-pw" and "s3cr3t-pw" not in repr(tables)
    assert "s3cr3t-pw" not in tables.attach_sql() and "s3-key-x" not in tables.attach_sql()
    assert "s3cr3t-pw" not in str(Settings.from_env({"LAKE_CATALOG": normal, **env}).dbt_env("x"))

    refused = {
        "postgresql://lake_catalog:s3cr3t-pw@db/lake_catalog": "holds a password; give it in "
        "LAKE_CATALOG_PASSWORD",
        "postgres:host=db dbname=lake_catalog user=u password=s3cr3t-pw": "holds a password",
        "postgres:host=db dbname=lake_catalog user=u options=-csearch_path=x": "unexpected "
        "parameter 'options'",
        "postgresql://db:5432/lake_catalog": "no user",
        "postgres:host=db user=u": "no dbname",
        "postgres:not a conninfo": "not a PostgreSQL connection string",
        "mysql://u@db/lake": "expected sqlite:",
    }
    for value, expected in refused.items():
        with pytest.raises(CatalogError, match=expected) as failure:
            TableCatalog.of(value, "s3://bucket/lake", {})
        assert "s3cr3t-pw" not in str(failure.value)
        assert str(failure.value).startswith("LAKE_CATALOG=")


@pytest.mark.integration
def test_dbt_on_postgresql_after_deletes_still_reconciles_with_the_oltp(
    server_mode, postgres_run, monkeypatch
):
    mode = server_mode
    runs = dagster_runs(mode)
    assert [status for _, status in runs] == ["SUCCESS", "SUCCESS"]
    assert failed_checks(mode, runs[-1][0]) == []
    orders, cents = oltp_orders(mode)

    # dbt built in the analytics database, from bronze loaded into raw_shop
    analytics = mode.cluster.dsn("analytics", "analytics")
    assert query(analytics, "select count(*), sum(order_total_cents) from marts.fct_orders") == [
        (orders, cents)
    ]
    (raw,) = query(analytics, "select count(*) from raw_shop.orders where _op = 'd'")[0]
    assert raw >= postgres_run.deleted  # the deletes arrived as CDC tombstones
    # the serving schema, republished from marts, still equals the OLTP after the deletes
    assert served_orders(mode) == (orders, cents)
    served = {
        name
        for (name,) in query(
            analytics,
            "select table_name from information_schema.tables where table_schema = 'analytics'",
        )
    }
    for name, value in mode.env.items():
        monkeypatch.setenv(name, value)
    published = latest_materialization(mode, ["serving", "gold_catalog"])
    assert published["postgres_source"] == "schema marts"
    assert published["duckdb_catalog"].startswith("skipped")
    assert len(published["published_to"]) == 1
    # dbt's default schema is not the serving schema: only the publication lives there
    assert served == {*published["models"], "gold_publication"}

    # the whole configuration answers, Dagster's storage included
    monkeypatch.setenv("DBT_TARGET", "postgres")
    checks = {c.component: c for c in run_checks(Settings.from_env(os.environ), os.environ)}
    assert [c.component for c in checks.values() if c.status == FAIL] == []
    storage = checks["Dagster storage"]
    assert storage.status == OK and storage.setting.startswith("PostgreSQL postgresql://dagster")


@pytest.mark.integration
def test_superset_serves_every_chart_from_the_serving_schema_with_postgresql_metadata(
    server_mode, postgres_run, monkeypatch
):
    superset_executable("gunicorn")  # says what to run when Superset is not installed
    mode = server_mode
    secrets_here = {
        "SUPERSET_SECRET_KEY": os.urandom(24).hex(),
        "SUPERSET_ADMIN_PASSWORD": os.urandom(9).hex(),
    }
    superset = compose_environment(
        "superset", {**mode.compose_variables, **secrets_here}, mode.addresses
    )
    # compose's values: metadata in `superset` as its owner, dashboards as superset_reader
    assert superset["SERVING_DATABASE_URI"] == reader_uri(
        mode.env["SERVING_PG_DSN"], "superset_reader", mode.cluster.password("superset_reader")
    )
    for name, value in {**superset, "DATA_DIR": str(mode.data_dir)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SUPERSET_WORKERS", "1")  # one client here; starts faster
    settings = Settings.from_env({"DATA_DIR": str(mode.data_dir)})
    started = time.perf_counter()
    bootstrap(settings, superset_env(settings), force=True)
    port = free_port()
    process = start_superset(settings, port, run_bootstrap=False)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        print(f"Superset bootstrapped and up in {time.perf_counter() - started:.0f} s")
        client = httpx.Client(base_url=url, timeout=120)
        token = client.post(
            "/api/v1/security/login",
            json={
                "username": "admin",
                "password": secrets_here["SUPERSET_ADMIN_PASSWORD"],
                "provider": "db",
                "refresh": False,
            },
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        databases = client.get("/api/v1/database/").json()["result"]
        assert [d["backend"] for d in databases] == ["postgresql"]
        charts = client.get("/api/v1/chart/", params={"q": "(page_size:100)"}).json()["result"]
        # the metadata is in the superset database
        slices = query(mode.cluster.dsn("superset", "superset"), "select count(*) from slices")
        assert slices == [(len(charts),)] and len(charts) > 20
        for chart in charts:
            response = client.get(f"/api/v1/chart/{chart['id']}/data/?force=true")
            assert response.status_code == 200, (chart["slice_name"], response.text[:300])
            if chart["slice_name"] not in STREAMED_CHARTS:  # empty: nothing streamed here
                assert response.json()["result"][0]["rowcount"] > 0, chart["slice_name"]
    finally:
        stop_superset(process)


# -- the serving configuration ----------------------------------------------------------------


def test_postgres_target_publishes_from_marts_into_the_same_database_only():
    dbt = {
        "DBT_TARGET": "postgres",
        "DBT_PG_HOST": "db",
        "DBT_PG_PORT": "5432",
        "DBT_PG_USER": "analytics",
        "DBT_PG_DATABASE": "analytics",
    }
    settings = Settings.from_env({"DATA_DIR": "/tmp/x", **dbt})
    same = serving_layers(settings, {**dbt, "SERVING_PG_DSN": "postgresql://a:b@db/analytics"})
    assert (same.duckdb_catalog, same.postgres_source_schema) == (False, "marts")

    other = {**dbt, "SERVING_PG_DSN": "postgresql://a:secret@db:5432/serving"}
    with pytest.raises(ServingConfigError) as error:
        serving_layers(settings, other)
    message = str(error.value)
    assert "SERVING_PG_DSN" in message and "DBT_PG_DATABASE" in message
    assert "db:5432/serving" in message and "db:5432/analytics" in message
    assert "secret" not in message

    with pytest.raises(ServingConfigError, match="set SERVING_PG_DSN"):
        serving_layers(settings, dbt)


def test_duckdb_engine_serves_the_catalog_and_postgresql_when_configured():
    settings = Settings.from_env({"DATA_DIR": "/tmp/x"})
    assert serving_layers(settings, {}) == serving_layers(settings, {"SERVING_PG_DSN": ""})
    layers = serving_layers(settings, {"SERVING_PG_DSN": "postgresql://a:b@db/analytics"})
    assert layers.duckdb_catalog and layers.postgres_source == "gold Parquet in the lake"
