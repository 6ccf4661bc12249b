"""Server mode's serving layer on a real PostgreSQL server: gold copied into the `analytics`
schema and swapped in one transaction, the `analytics_reader` group and Superset's login.

The gold layer is written as dbt writes it on DuckDB (see test_serving.write_gold); the
`marts` schema as dbt-postgres leaves it (tables, and a leftover `__dbt_backup`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from conftest import _pg_bindir
from test_serving import write_gold

from lake import open_lake
from lake.tables.catalog import TableCatalog, connect
from serving.postgres_schema import (
    READER_GROUP,
    ServingError,
    grant_login,
    publish_gold_to_postgres,
    reader_uri,
)
from tests.ports import free_port

pytestmark = pytest.mark.integration

LOGIN = "superset_reader"
PASSWORD = "r3ader-Pa55word-from-the-env"


def as_reader(dsn: str, password: str = PASSWORD) -> psycopg.Connection:
    parts = urlsplit(dsn)
    return psycopg.connect(
        host=parts.hostname,
        port=parts.port,
        dbname=parts.path.lstrip("/"),
        user=LOGIN,
        password=password,
        autocommit=True,
    )


def counts(connection: psycopg.Connection, *tables: str) -> dict[str, int]:
    return {
        t: connection.execute(f"select count(*) from analytics.{t}").fetchone()[0] for t in tables
    }


@pytest.fixture(scope="module")
def postgres_server(private_postgres_server):
    """This module creates roles (cluster-wide): its databases live on a server of its own."""
    return private_postgres_server


@pytest.fixture
def lake(tmp_path):
    root = tmp_path / "lake"
    write_gold(root, revenue_rows=120, order_rows=50)
    return open_lake(str(root))


def test_publish_from_the_lake_serves_every_mart_to_the_reader_only(postgres_database, lake):
    result = publish_gold_to_postgres(postgres_database, lake=lake)
    grant_login(postgres_database, LOGIN, PASSWORD)

    assert result.models == {"daily_revenue": 120, "fct_orders": 50}
    with psycopg.connect(postgres_database, autocommit=True) as owner:
        owner.execute("create schema marts")
        owner.execute("create table marts.secret as select 1 as x")
        tables = owner.execute(
            "select table_name from information_schema.tables where table_schema = 'analytics' "
            "order by 1"
        ).fetchall()
        # nothing temporary left behind
        assert tables == [("daily_revenue",), ("fct_orders",), ("gold_publication",)]
        group = owner.execute(
            "select rolcanlogin from pg_roles where rolname = %s", (READER_GROUP,)
        ).fetchone()
        assert group == (False,)
        stored = owner.execute(
            "select rolpassword from pg_authid where rolname = %s", (LOGIN,)
        ).fetchone()[0]
        assert stored.startswith("SCRAM-SHA-256$") and PASSWORD not in stored

    with as_reader(postgres_database) as reader:
        assert counts(reader, "daily_revenue", "fct_orders") == result.models
        # the hive partitions are columns, as in the embedded catalog
        months = reader.execute(
            "select order_month, count(*) from daily_revenue group by 1 order by 1"
        ).fetchall()
        assert months == [(1, 62), (2, 56), (3, 2)]
        publication = reader.execute(
            "select model_name, row_count from gold_publication order by 1"
        ).fetchall()
        assert publication == [("daily_revenue", 120), ("fct_orders", 50)]
        assert reader.execute("show default_transaction_read_only").fetchone() == ("on",)

        refused = {
            "create a table in analytics": "create table analytics.mine (x int)",
            "create a table in public": "create table public.mine (x int)",
            "create a schema": "create schema mine",
            "insert into a mart": "insert into analytics.fct_orders values (1)",
            "delete from a mart": "delete from analytics.fct_orders",
            "drop a mart": "drop table analytics.fct_orders",
            "read another schema": "select * from marts.secret",
        }
        for what, sql in refused.items():
            # the session's read-only default off: the privileges alone must refuse it
            reader.execute("set default_transaction_read_only = off")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(sql)
                pytest.fail(f"the reader could {what}")
        assert counts(reader, "fct_orders") == {"fct_orders": 50}


def test_publish_from_the_marts_schema_of_dbt_postgres(postgres_database):
    with psycopg.connect(postgres_database, autocommit=True) as owner:
        owner.execute("create schema marts")
        owner.execute(
            "create table marts.daily_revenue as select g as id from generate_series(1, 30) g"
        )
        owner.execute(
            "create table marts.fct_orders as select g as id from generate_series(1, 7) g"
        )
        # what an interrupted dbt build leaves behind is not a mart
        owner.execute("create table marts.fct_orders__dbt_backup as select 1 as id")
        owner.execute("create view marts.not_a_table as select 1 as id")

    first = publish_gold_to_postgres(postgres_database, source_schema="marts")
    assert first.models == {"daily_revenue": 30, "fct_orders": 7}

    with psycopg.connect(postgres_database, autocommit=True) as owner:
        owner.execute("drop table marts.fct_orders, marts.fct_orders__dbt_backup")
        owner.execute("insert into marts.daily_revenue select 100 + g from generate_series(1, 5) g")
    second = publish_gold_to_postgres(postgres_database, source_schema="marts")
    grant_login(postgres_database, LOGIN, PASSWORD)

    assert second.models == {"daily_revenue": 35}
    assert second.dropped == ["fct_orders"]
    with as_reader(postgres_database) as reader:
        assert counts(reader, "daily_revenue") == {"daily_revenue": 35}
        assert reader.execute("select to_regclass('analytics.fct_orders')").fetchone() == (None,)


def test_a_failed_publish_leaves_the_previous_publication(postgres_database, lake, tmp_path):
    publish_gold_to_postgres(postgres_database, lake=lake)
    # a mart whose name cannot be a PostgreSQL table: the publish fails, nothing changes
    write_gold(Path(lake.location.root), revenue_rows=10, order_rows=5)
    with connect(TableCatalog.beside(lake.location)) as tables:
        tables.execute('create table lake.marts."Bad-Mart" as select 1 as order_id')
    with pytest.raises(ServingError, match="'Bad-Mart' cannot be a PostgreSQL name"):
        publish_gold_to_postgres(postgres_database, lake=lake)
    with psycopg.connect(postgres_database, autocommit=True) as owner:
        assert counts(owner, "daily_revenue", "fct_orders") == {
            "daily_revenue": 120,
            "fct_orders": 50,
        }
        leftovers = owner.execute(
            "select count(*) from information_schema.tables where table_name like '\\_publish%'"
        ).fetchone()
        assert leftovers == (0,)


def test_the_login_password_comes_from_the_environment_and_is_not_weak(postgres_database):
    for weak in ("", "postgres", "short-pw"):
        with pytest.raises(ServingError, match="SERVING_PG_READER_PASSWORD"):
            grant_login(postgres_database, "weak_reader", weak)
    with psycopg.connect(postgres_database, autocommit=True) as owner:
        role = owner.execute("select 1 from pg_roles where rolname = 'weak_reader'").fetchone()
        assert role is None


def test_a_publisher_that_is_not_superuser_publishes_and_grants(postgres_database, lake):
    """Server mode's publisher owns the database and may create roles, nothing more."""
    with psycopg.connect(postgres_database, autocommit=True) as admin:
        if not admin.execute("select 1 from pg_roles where rolname = 'publisher'").fetchone():
            admin.execute("create role publisher login createrole")
        database = urlsplit(postgres_database).path.lstrip("/")
        admin.execute(f'alter database "{database}" owner to publisher')
        if not admin.execute("select 1 from pg_roles where rolname = 'admin_like'").fetchone():
            admin.execute("create role admin_like login createdb")
    publisher = postgres_database.replace("//postgres@", "//publisher@")
    result = publish_gold_to_postgres(publisher, lake=lake)
    grant_login(publisher, LOGIN, PASSWORD)
    with as_reader(postgres_database) as reader:
        assert counts(reader, "daily_revenue", "fct_orders") == result.models
    # a role with more than reading rights is never turned into the dashboards' login
    with pytest.raises(ServingError, match="privileges beyond reading"):
        grant_login(publisher, "admin_like", PASSWORD)


def test_a_republish_while_readers_query_never_errors(postgres_database, lake):
    root = Path(lake.location.root)
    publish_gold_to_postgres(postgres_database, lake=lake)
    grant_login(postgres_database, LOGIN, PASSWORD)
    stop = threading.Event()
    errors: list[str] = []
    seen: set[int] = set()
    reads = 0

    def reader() -> None:
        nonlocal reads
        with as_reader(postgres_database) as connection:
            while not stop.is_set():
                try:
                    # what Superset sends: one statement per chart, each over one relation
                    (orders,) = connection.execute("select count(*) from fct_orders").fetchone()
                    connection.execute(
                        "select order_month, sum(revenue_reporting) from daily_revenue group by 1"
                    ).fetchall()
                    connection.execute("select * from gold_publication").fetchall()
                    seen.add(orders)
                    reads += 1
                except psycopg.Error as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    publishes = 0
    try:
        # each rebuild and publish opens the DuckLake (DuckDB checks the extensions'
        # signatures on every load, about 0.3 s each): at least 3 of them while readers read
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and publishes < 5:
            write_gold(root, 100 + publishes, 40 + publishes)
            publish_gold_to_postgres(postgres_database, lake=lake)
            publishes += 1
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert errors == [], errors[:5]
    assert publishes >= 3 and reads >= 30
    # the readers saw successive publications, each whole
    assert len(seen) >= 2 and seen <= {50, *(40 + n for n in range(publishes))}


# -- the password, checked by a server that asks for it ---------------------------------------
@pytest.fixture(scope="module")
def scram_server() -> Iterator[str]:
    """A PostgreSQL server that authenticates TCP connections with SCRAM-SHA-256 (the
    session's server trusts everyone, so it cannot tell a wrong password)."""
    bindir = _pg_bindir()
    workdir = Path(tempfile.mkdtemp(prefix="lakehouse-pg-scram-"))
    datadir, sockdir, pwfile = workdir / "data", workdir / "sock", workdir / "pw"
    sockdir.mkdir()
    superuser_password = "owner-" + os.urandom(12).hex()
    pwfile.write_text(superuser_password + "\n")
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (workdir, sockdir, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            f"--pwfile={pwfile}",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(workdir / "log")]
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockdir} -c fsync=off"
    subprocess.run([*pg_ctl, "-o", options, "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres:{superuser_password}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_login_role_authenticates_with_its_password_only(scram_server, lake):
    publish_gold_to_postgres(scram_server, lake=lake)
    grant_login(scram_server, LOGIN, PASSWORD)
    with as_reader(scram_server) as reader:
        assert counts(reader, "fct_orders") == {"fct_orders": 50}
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        as_reader(scram_server, password=PASSWORD + "x")
    # what Superset is given: the same server, the login's credentials (psycopg2 dialect)
    uri = reader_uri(scram_server, LOGIN, PASSWORD)
    assert uri.startswith(f"postgresql+psycopg2://{LOGIN}:")
    assert uri.endswith(f"@127.0.0.1:{urlsplit(scram_server).port}/postgres")
    # rotating the password takes effect
    grant_login(scram_server, LOGIN, PASSWORD + "-rotated")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        as_reader(scram_server)
    with as_reader(scram_server, password=PASSWORD + "-rotated") as reader:
        assert counts(reader, "fct_orders") == {"fct_orders": 50}


def test_the_command_line_publishes_and_grants_from_the_environment(postgres_database, lake):
    env = {**os.environ, "SERVING_PG_DSN": postgres_database}
    env.pop("SERVING_PG_READER_PASSWORD", None)
    command = [sys.executable, "-m", "serving.postgres_schema"]
    published = subprocess.run(
        [*command, "publish", "--from-lake", lake.url], env=env, capture_output=True, text=True
    )
    assert published.returncode == 0, published.stderr
    assert "published 2 marts to analytics" in published.stdout
    # no password in the environment: refused, nothing created
    refused = subprocess.run([*command, "grant-login"], env=env, capture_output=True, text=True)
    assert refused.returncode == 1
    assert "SERVING_PG_READER_PASSWORD) is not set" in refused.stderr
    env.update(SERVING_PG_READER_USER="cli_reader", SERVING_PG_READER_PASSWORD=PASSWORD)
    granted = subprocess.run([*command, "grant-login"], env=env, capture_output=True, text=True)
    assert granted.returncode == 0, granted.stderr
    assert "postgresql+psycopg2://cli_reader:<password>@127.0.0.1:" in granted.stdout
    assert PASSWORD not in granted.stdout
