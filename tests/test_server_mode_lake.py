"""Server mode's lake: silver and gold as DuckLake tables whose catalog is in PostgreSQL (its
own database and role, made by docker/postgres/init.sh) and whose data files are in the bucket
(moto's S3 server), written and read by DuckDB's httpfs with no fsspec in between.

The demo (sources, syncs, `dbt build` on DuckDB, publish) runs once with compose's catalog
setting; then the tests read what it left: the catalog's rows against the bucket's objects,
the published snapshot through a read-only reader while a writer commits, and the setting's
validation (no password in it, none in any message).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import psycopg
import pytest
from conftest import ServerModeCluster, running_postgres, server_mode_cluster

from lake import Lake, parse_lake_url
from lake.tables import publications
from lake.tables.catalog import CatalogError, TableCatalog, connect, current_snapshot
from orchestration.demo import DemoReport, run_demo
from orchestration.settings import PG_CATALOG_TARGET, Settings, exported
from serving.duckdb_catalog import ATTACHMENT_TABLE, META_SCHEMA, catalog_path, open_served

ROLE = "lake_catalog"  # init.sh's role and database of the catalog (docker-compose.yml)


@dataclass(frozen=True)
class ServerLake:
    cluster: ServerModeCluster
    env: dict[str, str]  # what the pipeline's environment holds for the lake
    settings: Settings
    report: DemoReport

    @property
    def password(self) -> str:
        return self.cluster.password(ROLE)

    def lake(self) -> Lake:
        location = parse_lake_url(self.settings.lake_url, self.env)
        return Lake(location=location, fs=location.filesystem())

    def tables(self) -> TableCatalog:
        with exported(self.env):
            return self.settings.table_catalog(self.lake().uri())

    def catalog_rows(self, sql: str) -> list[tuple]:
        """The catalog database read as its own role, as DuckLake wrote it."""
        with psycopg.connect(self.cluster.dsn(ROLE, ROLE), autocommit=True) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def server_lake(s3_endpoint, tmp_path_factory) -> Iterator[ServerLake]:
    with running_postgres(password_auth=True) as server, server_mode_cluster(server) as cluster:
        data_dir = tmp_path_factory.mktemp("server-lake")
        env = {
            **s3_endpoint.env,
            "DATA_DIR": str(data_dir),
            "DATAGEN_SCALE": "0.002",  # 2,000 orders
            "DATAGEN_SEED": "7",
            "LAKE_URL": f"s3://lakehouse-{uuid.uuid4().hex[:8]}/lake",
            # compose's value, with this server's address
            "LAKE_CATALOG": f"postgresql://{ROLE}@{server.host}:{server.port}/{ROLE}",
            "LAKE_CATALOG_PASSWORD": cluster.password(ROLE),
        }
        settings = Settings.from_env(env)
        with exported(env):
            report = run_demo(settings, quiet=True)
        yield ServerLake(cluster, env, settings, report)


@pytest.mark.integration
def test_dbt_builds_gold_as_ducklake_tables_in_the_bucket_with_the_catalog_in_postgresql(
    server_lake,
):
    settings, report = server_lake.settings, server_lake.report
    assert settings.resolved_dbt_target == PG_CATALOG_TARGET
    assert (report.failed_steps, report.left_out, report.dbt["failures"]) == ([], [], [])
    assert report.layers["gold"]["fct_orders"] == report.layers["bronze"]["shop.orders"] == 2_000

    # the catalog is the lake_catalog database, written as its own role
    (owner,) = server_lake.catalog_rows(
        "select tableowner from pg_tables where tablename = 'ducklake_metadata'"
    )[0]
    assert owner == ROLE
    # every live data file of a gold table, as the catalog lists it, is an object in the
    # bucket under gold/<table>/ (the schema's folder + the table's + the file's own path)
    live = server_lake.catalog_rows(
        "select t.table_name, s.path || t.path || f.path from ducklake_data_file f "
        "join ducklake_table t on t.table_id = f.table_id and t.end_snapshot is null "
        "join ducklake_schema s on s.schema_id = t.schema_id and s.end_snapshot is null "
        "where s.schema_name = 'marts' and f.end_snapshot is null"
    )
    assert {table for table, _ in live} >= {"fct_orders", "daily_revenue", "dim_customers"}
    lake = server_lake.lake()
    in_bucket = {
        info.path.removeprefix(lake.path() + "/")
        for info in lake.list_files(lake.path("gold"), suffix=".parquet")
    }
    for table, key in live:
        assert key.startswith(f"gold/{table}/") and key in in_bucket, (table, key)
    # nothing of the lake or its catalog on the local disk
    assert not (settings.data_dir / "lake").exists()
    assert not list(settings.data_dir.glob("*.sqlite"))


@pytest.mark.integration
def test_a_read_only_reader_sees_the_published_snapshot_while_a_writer_commits(server_lake):
    tables = server_lake.tables()
    lake = server_lake.lake()
    (published,) = [p for p in publications.history(lake) if p.action == publications.PUBLISH]
    served_catalog = catalog_path(server_lake.settings.serving_dir)

    with open_served(served_catalog, tables) as reader:
        (statement,) = reader.execute(
            f"select statement from {META_SCHEMA}.{ATTACHMENT_TABLE}"
        ).fetchone()
        # what the serving catalog stores names the catalog, never its password
        assert server_lake.password not in statement and "META_SECRET" in statement
        before = reader.execute("select count(*) from analytics.fct_orders").fetchone()[0]
        assert before == published.models["fct_orders"] == 2_000

        with connect(tables) as writer:  # a build committing after the publish
            writer.execute("delete from lake.marts.fct_orders where order_id % 4 = 0")
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


@pytest.mark.integration
def test_a_wrong_password_fails_naming_the_catalog_without_any_password(server_lake):
    tables = server_lake.tables()
    wrong = TableCatalog.of(
        tables.catalog, tables.data_path, {**server_lake.env, "LAKE_CATALOG_PASSWORD": "nope-x1"}
    )
    with pytest.raises(CatalogError) as failure:
        connect(wrong, read_only=True)
    message = str(failure.value)
    assert message.startswith(f"cannot attach the lake's catalog PostgreSQL {wrong.catalog[9:]}")
    assert "password authentication failed" in message and "LAKE_CATALOG_PASSWORD" in message
    assert "nope-x1" not in message and server_lake.password not in message


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
