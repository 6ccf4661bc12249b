"""Fixtures that start real servers (PostgreSQL, an S3 endpoint) and clean up after themselves."""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.demo_runs import demo_after_change_set  # noqa: F401  (one audited lake per session)
from tests.kafka_broker import kafka_broker  # noqa: F401  (a fixture for the Kafka tests)
from tests.ports import free_port
from tests.shared_lake import FIXTURE as SHARED_DEMO
from tests.shared_lake import shared_demo, start_if_needed, stop_builder  # noqa: F401
from tests.superset_session import (  # noqa: F401  (one demo lake and Superset per session)
    browser,
    pipeline_settings,
    superset,
)
from tests.tiny_build import (  # noqa: F401  (one tiny build on both engines per session)
    tiny_duckdb_build,
    tiny_postgres_build,
    tiny_synced,
)

REPO_ROOT = Path(__file__).resolve().parent.parent

# A test's Superset serves a few clients at once: two gunicorn processes (2 threads each), not
# the default four per core, each of which imports the whole of Superset while it starts.
os.environ.setdefault("SUPERSET_WORKERS", "2")


# -- parallel runs: `make test` runs pytest-xdist workers with --dist loadgroup --------------
SHARED_SCOPES = ("package", "module", "session")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that uses a module- or session-scoped fixture defined in its own module (a demo
    run, a Superset, a Dagster UI, a generated source) joins its module's xdist group: the
    group runs on one worker, so the fixture is built once. Tests without one spread over the
    workers one by one. An explicit `xdist_group` mark wins. Without -n this changes nothing."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        module = item.nodeid.split("::")[0]
        info = getattr(item, "_fixtureinfo", None)
        fixturedefs = info.name2fixturedefs.values() if info else ()
        if any(
            fixturedef.scope in SHARED_SCOPES and fixturedef.baseid == module
            for definitions in fixturedefs
            for fixturedef in definitions
        ):
            item.add_marker(pytest.mark.xdist_group(Path(module).stem))
    if hasattr(config, "workerinput"):
        # xdist hands out work in collection order (--no-loadscope-reorder): integration tests
        # first, so that a long one does not start last while the other worker idles; among
        # them those that need the shared demo folder last, so that the workers do other work
        # while it is built (a minute or more) instead of waiting for it. Only on workers: a
        # serial run keeps each module's tests together (module fixtures built once).
        groups: dict[str, list[pytest.Item]] = {}
        for item in items:
            groups.setdefault(_xdist_scope(item), []).append(item)
        order = {}
        for scope, members in groups.items():
            needs_demo = any(SHARED_DEMO in getattr(item, "fixturenames", ()) for item in members)
            order[scope] = (
                not any(item.get_closest_marker("integration") for item in members),
                needs_demo,
                # of those, the largest group first (the Superset session's): not the last
                -len(members) if needs_demo else 0,
            )
        items.sort(key=lambda item: order[_xdist_scope(item)])


def _xdist_scope(item: pytest.Item) -> str:
    """The unit xdist's loadgroup hands to one worker: the test's groups (named as xdist names
    them, every xdist_group mark joined), or the test."""
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    return "_".join(sorted(names)) if names else item.nodeid


def pytest_collection_finish(session: pytest.Session) -> None:
    """The shared demo folder starts building in the background as soon as the tests that
    need it are known (tests/shared_lake.py)."""
    start_if_needed(session.config, session.items)


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_builder(session.config)


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    """The pipeline exports dbt's variables into os.environ; no test may leak them."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


# -- S3: moto's server is a real HTTP S3 endpoint (MinIO cannot be installed here) ----------
@dataclass(frozen=True)
class S3Endpoint:
    url: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    yield S3Endpoint(
        url=url,
        env={
            "LAKE_S3_ENDPOINT": url,
            "LAKE_S3_ACCESS_KEY_ID": "test-access-key",
            "LAKE_S3_SECRET_ACCESS_KEY": "test-secret-key",
            "LAKE_S3_REGION": "us-east-1",
        },
    )
    server.stop()


# -- PostgreSQL: a throwaway server from the system's binaries ------------------------------
@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    pg_ctl: list[str]  # the pg_ctl command line (as the postgres user), up to the action
    superuser_password: str | None = None  # set when TCP connections need a password

    def dsn(self, database: str = "postgres", user: str = "postgres") -> str:
        auth = user
        if user == "postgres" and self.superuser_password:
            auth += f":{self.superuser_password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (to test what a client does when its database goes away). A fast
        shutdown waits for each logical walsender to send its client the shutdown checkpoint;
        a client that is not reading (a test stopping the server from the sync's own
        progress callback, on the reading thread) holds it until pg_ctl gives up. After 20 s
        the server is stopped immediately instead: to the client, the database went away
        either way."""
        stopped = subprocess.run(
            [*self.pg_ctl, "-m", mode, "-t", "20", "-w", "stop"], capture_output=True
        )
        if stopped.returncode != 0:
            subprocess.run(
                [*self.pg_ctl, "-m", "immediate", "-w", "stop"], check=True, capture_output=True
            )

    def start(self) -> None:
        subprocess.run([*self.pg_ctl, "-w", "start"], check=True, capture_output=True)


def _pg_bindir() -> Path:
    candidates = [os.environ.get("PG_BINDIR", ""), *sorted(glob.glob("/usr/lib/postgresql/*/bin"))]
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    pytest.fail(
        "PostgreSQL server binaries not found: apt-get install postgresql (or set PG_BINDIR)"
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def private_postgres_server() -> Iterator[PostgresServer]:
    """A server of the module's own, for tests that create roles: roles belong to the whole
    cluster, so on the shared server they would collide with other tests' grants."""
    with running_postgres() as server:
        yield server


@contextmanager
def running_postgres(password_auth: bool = False) -> Iterator[PostgresServer]:
    """A throwaway server with wal_level=logical. Every connection is trusted, unless
    `password_auth`: then TCP connections (replication too) authenticate with SCRAM-SHA-256,
    as the postgres image's do, and the superuser gets a random password."""
    bindir = _pg_bindir()
    workdir = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
    datadir, sockdir, pwfile = workdir / "data", workdir / "sock", workdir / "pw"
    sockdir.mkdir()
    superuser_password = f"pg-{secrets.token_hex(12)}" if password_auth else None
    auth = ["-A", "trust"]
    if superuser_password:
        pwfile.write_text(superuser_password + "\n")
        auth = ["--auth-host=scram-sha-256", "--auth-local=trust", f"--pwfile={pwfile}"]
    # the server refuses to run as root: run it as the postgres user when we are root
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (workdir, sockdir, *([pwfile] if superuser_password else [])):
            os.chown(path, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            *auth,
            "-U",
            "postgres",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {sockdir} -c fsync=off -c wal_level=logical"
    )
    pg_ctl = [
        *as_user,
        str(bindir / "pg_ctl"),
        "-D",
        str(datadir),
        "-o",
        options,
        "-l",
        str(workdir / "server.log"),
    ]
    server = PostgresServer("127.0.0.1", port, pg_ctl, superuser_password)
    server.start()
    try:
        yield server
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres_server: PostgresServer, request) -> Iterator[str]:
    """A fresh database on the shared server, named after the test; its replication slots
    are dropped afterwards."""
    import psycopg

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.dsn(name)
    _drop_replication_slots(postgres_server, name)


def _drop_replication_slots(server: PostgresServer, database: str) -> None:
    """Replication slots are cluster-wide and outlive their connections: a CDC test's slot
    would keep WAL and hold its name for the next test."""
    import time

    import psycopg

    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        for _ in range(50):
            conn.execute(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                "WHERE database = %s AND active_pid IS NOT NULL",
                (database,),
            )
            slots = conn.execute(
                "SELECT slot_name FROM pg_replication_slots WHERE database = %s", (database,)
            ).fetchall()
            if not slots:
                return
            for (slot,) in slots:
                try:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                except psycopg.errors.ObjectInUse:
                    time.sleep(0.05)


# -- server mode's PostgreSQL: docker/postgres/init.sh on a test server ----------------------
INIT_SH = REPO_ROOT / "docker" / "postgres" / "init.sh"
INIT_DATABASES = ("shop", "dagster", "superset", "analytics", "lake_catalog")
INIT_ROLES = (
    "superset_reader",
    "analytics_reader",
    "analytics",
    "superset",
    "dagster",
    "shop",
    "lake_catalog",
)
# the variable init.sh (and docker-compose.yml) takes each login role's password from
ROLE_PASSWORD_VARIABLES = {
    "shop": "OLTP_PASSWORD",
    "dagster": "DAGSTER_PG_PASSWORD",
    "superset": "SUPERSET_PG_PASSWORD",
    "analytics": "ANALYTICS_PG_PASSWORD",
    "superset_reader": "SERVING_PG_READER_PASSWORD",
    "lake_catalog": "LAKE_CATALOG_PASSWORD",
}


def init_sh_passwords() -> list[str]:
    """The password variables init.sh requires."""
    return re.findall(r': "\$\{([A-Z_]+):\?', INIT_SH.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ServerModeCluster:
    """A server initialised by init.sh: its databases, roles and their passwords."""

    server: PostgresServer
    passwords: dict[str, str]  # init.sh's variable -> value

    def password(self, role: str) -> str:
        return self.passwords[ROLE_PASSWORD_VARIABLES[role]]

    def dsn(self, database: str, role: str) -> str:
        """The role's own login to a database, with its password."""
        host, port = self.server.host, self.server.port
        return f"postgresql://{role}:{self.password(role)}@{host}:{port}/{database}"


@contextmanager
def server_mode_cluster(server: PostgresServer) -> Iterator[ServerModeCluster]:
    """Run init.sh as the postgres image's entrypoint does on a first start, with a random
    password per role (letters and digits, as .env.example asks). Roles are cluster-wide, so
    the databases and roles are dropped again afterwards."""
    psql = shutil.which("psql")
    if not psql:
        pytest.fail("psql not found: apt-get install postgresql-client")
    passwords = {name: secrets.token_hex(12) for name in init_sh_passwords()}
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "POSTGRES_USER": "postgres",
        **({"PGPASSWORD": server.superuser_password} if server.superuser_password else {}),
        **passwords,
    }
    _drop_init_objects(server)
    result = subprocess.run(
        ["bash", str(INIT_SH)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    try:
        yield ServerModeCluster(server, passwords)
    finally:
        _drop_init_objects(server)


def _drop_init_objects(server: PostgresServer) -> None:
    import psycopg

    for database in INIT_DATABASES:
        _drop_replication_slots(server, database)  # a slot keeps its database from dropping
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        for database in INIT_DATABASES:
            conn.execute(f"drop database if exists {database} with (force)")
        for role in INIT_ROLES:
            conn.execute(f"drop role if exists {role}")
