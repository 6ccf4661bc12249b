"""Fixtures that start real servers (PostgreSQL, an S3 endpoint) and clean up after themselves."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


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

    def dsn(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{database}"

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (to test what a client does when its database goes away)."""
        subprocess.run([*self.pg_ctl, "-m", mode, "-w", "stop"], check=True, capture_output=True)

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
def running_postgres() -> Iterator[PostgresServer]:
    bindir = _pg_bindir()
    workdir = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
    datadir, sockdir = workdir / "data", workdir / "sock"
    sockdir.mkdir()
    # the server refuses to run as root: run it as the postgres user when we are root
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (workdir, sockdir):
            os.chown(path, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-A",
            "trust",
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
    server = PostgresServer(host="127.0.0.1", port=port, pg_ctl=pg_ctl)
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
