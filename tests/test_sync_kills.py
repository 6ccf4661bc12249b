"""Exactly once: `lakehouse sync` killed with SIGKILL at random moments (a first sync, an
incremental sync after a change set, a files stream) and inside the commit, then rerun,
leaves bronze equal to a clean run's, row for row: nothing lost, nothing written twice.
The killed sync is recorded as interrupted and its staging is removed; a second sync of a
running connection is refused. And an incremental sync reads each row once, even when
thousands share one cursor value.

The random kill points come from a fixed seed, so a failure reproduces.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from datagen.changes import apply_changes
from datagen.generate import GenerationRequest, generate
from datagen.oltp import connect as oltp_connect
from ingestion.commit import KILL_AT_VARIABLE
from ingestion.connections import load_connections
from ingestion.running import ConnectionBusyError
from ingestion.sync import sync_connection
from lake import open_lake
from orchestration.settings import REPO_ROOT

SEED = 20261204
SCALE = 0.003
ENGINE_COLUMNS = ("_sync_id", "_extracted_at", "extracted_date", "extracted_month")


# -- helpers ---------------------------------------------------------------------------------
def environment(world: Path, lake_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATA_DIR": str(world),
        "OLTP_DSN": f"sqlite:///{world}/shop.db",
        "LANDING_URL": str(world / "landing"),
        "LAKE_URL": str(lake_dir),
        "SHOP_SOURCE": "sql",
        "CONNECTIONS_FILE": str(REPO_ROOT / "connections.yml"),
    }


def rerun(world: Path, lake_dir: Path, name: str):
    """A sync in this process, as the next scheduled run would be."""
    connection = load_connections(
        REPO_ROOT / "connections.yml", environment(world, lake_dir)
    ).connections[name]
    result = sync_connection(open_lake(str(lake_dir)), name, connection)
    assert result.status == "succeeded"
    return result


def bronze_rows(lake_dir: Path, connection: str) -> Counter:
    """Every bronze row of the connection, (stream, columns by name), without what differs
    from one sync to the next (sync id, extraction time, its partition)."""
    rows: Counter = Counter()
    con = duckdb.connect()  # its own: the module's default connection is shared by tests
    for stream_dir in sorted((lake_dir / "bronze" / connection).iterdir()):
        relation = con.sql(
            f"select * from read_parquet('{stream_dir}/*/*.parquet', union_by_name = true, "
            "hive_partitioning = true)"
        )
        columns = sorted(c for c in relation.columns if c not in ENGINE_COLUMNS)
        for row in relation.select(*[f'"{c}"' for c in columns]).fetchall():
            rows[(stream_dir.name, *zip(columns, row, strict=True))] += 1
    return rows


def sync_process(world: Path, lake_dir: Path, name: str, kill_at: str | None = None):
    env = environment(world, lake_dir)
    if kill_at:
        env[KILL_AT_VARIABLE] = kill_at
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "sync", name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def marker_of(lake_dir: Path, name: str) -> Path:
    return lake_dir / "_ops" / "running" / f"{name}.json"


def wait_for(path: Path, child: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)


def clean_sync(world: Path, lake_dir: Path, name: str) -> tuple[Counter, float]:
    """A sync left alone: its bronze and how long it ran after marking itself running."""
    child = sync_process(world, lake_dir, name)
    wait_for(marker_of(lake_dir, name), child)
    started = time.monotonic()
    _, errors = child.communicate(timeout=120)
    assert child.returncode == 0, errors
    return bronze_rows(lake_dir, name), time.monotonic() - started


def kill_and_rerun(world: Path, lake_dir: Path, name: str, delay: float | None, kill_at=None):
    """Kill a sync `delay` seconds after it marked itself running (or at a commit's kill
    point), rerun it, and check what the rerun found. Returns whether it was killed."""
    child = sync_process(world, lake_dir, name, kill_at)
    marker = marker_of(lake_dir, name)
    if delay is not None:
        wait_for(marker, child)
        time.sleep(delay)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
    child.wait(timeout=120)
    killed = child.returncode == -signal.SIGKILL
    assert killed or child.returncode == 0, child.stderr.read()
    child.stderr.close()
    # a sync killed on its way out (run recorded, marker removed) leaves no marker
    killed_id = json.loads(marker.read_text())["sync_id"] if marker.exists() else None
    rerun(world, lake_dir, name)
    assert not marker.exists()
    assert not (lake_dir / "bronze" / "_staging" / name).exists()
    if killed_id:
        record = open_lake(str(lake_dir)).read_json(
            str(lake_dir / "_ops" / "runs" / name / f"{killed_id}.json")
        )
        assert record["status"] in {"interrupted", "succeeded"}  # killed after its record
        if record["status"] == "interrupted":
            assert record["interrupted"]["staged_rows"] is None or (
                record["interrupted"]["staged_rows"] >= 0
            )
    return killed


def random_kills(world, base: Path | None, name: str, tmp_path: Path, trials: int, seed: int):
    """A clean sync from `base` (a lake to start from, or none), then `trials` syncs from
    the same start killed at random moments and rerun: each bronze equals the clean one."""
    reference_dir = tmp_path / "reference"
    if base is not None:
        shutil.copytree(base, reference_dir)
    expected, span = clean_sync(world, reference_dir, name)
    rng = random.Random(seed)
    killed = 0
    for trial in range(trials):
        lake_dir = tmp_path / f"trial-{trial}"
        if base is not None:
            shutil.copytree(base, lake_dir)
        delay = rng.uniform(0, span)
        killed += kill_and_rerun(world, lake_dir, name, delay)
        got = bronze_rows(lake_dir, name)
        assert got == expected, (
            f"trial {trial} (killed {delay:.3f} s in): "
            f"{sum((got - expected).values())} rows too many, "
            f"{sum((expected - got).values())} missing"
        )
    assert killed, "no trial was killed before its sync ended"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("world")
    generate(GenerationRequest(SCALE, 11, f"sqlite:///{root}/shop.db", str(root / "landing")))
    return root


@pytest.fixture
def own_world(world, tmp_path) -> Path:
    """A private copy of the OLTP database (the test changes it)."""
    root = tmp_path / "world"
    root.mkdir()
    shutil.copy(world / "shop.db", root / "shop.db")
    (root / "landing").symlink_to(world / "landing")
    return root


# -- random kills ----------------------------------------------------------------------------
@pytest.mark.integration
def test_a_first_sync_killed_at_random_moments_reruns_to_a_clean_bronze(world, tmp_path):
    random_kills(world, None, "shop", tmp_path, trials=3, seed=SEED)


@pytest.mark.integration
def test_an_incremental_sync_killed_at_random_moments_reruns_to_a_clean_bronze(own_world, tmp_path):
    base = tmp_path / "base"
    rerun(own_world, base, "shop")
    changes = apply_changes(f"sqlite:///{own_world}/shop.db", fraction=0.2, seed=5, deletes=False)
    assert changes.inserted and changes.updated
    random_kills(own_world, base, "shop", tmp_path, trials=3, seed=SEED + 1)


@pytest.mark.integration
def test_a_files_sync_killed_at_random_moments_reruns_to_a_clean_bronze(world, tmp_path):
    random_kills(world, None, "clickstream", tmp_path, trials=2, seed=SEED + 2)


# -- kills inside the commit ----------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.parametrize(
    "kill_at",
    ["committed:1", "committed:5", "moved-one:3", "moved-all:8"],
)
def test_a_sync_killed_inside_its_commit_reruns_to_a_clean_bronze(world, tmp_path, kill_at):
    reference_dir = tmp_path / "reference"
    rerun(world, reference_dir, "shop")
    lake_dir = tmp_path / "killed"
    assert kill_and_rerun(world, lake_dir, "shop", None, kill_at), f"not killed at {kill_at}"
    assert bronze_rows(lake_dir, "shop") == bronze_rows(reference_dir, "shop")


@pytest.mark.integration
def test_an_incremental_sync_killed_inside_its_commit_reruns_to_a_clean_bronze(own_world, tmp_path):
    base = tmp_path / "base"
    rerun(own_world, base, "shop")
    apply_changes(f"sqlite:///{own_world}/shop.db", fraction=0.2, seed=5, deletes=False)
    reference_dir, lake_dir = tmp_path / "reference", tmp_path / "killed"
    shutil.copytree(base, reference_dir)
    shutil.copytree(base, lake_dir)
    rerun(own_world, reference_dir, "shop")
    assert kill_and_rerun(own_world, lake_dir, "shop", None, "committed:2")
    assert bronze_rows(lake_dir, "shop") == bronze_rows(reference_dir, "shop")


# -- the interrupted run and the lock --------------------------------------------------------
@pytest.mark.integration
def test_a_sync_killed_before_its_commit_point_is_recorded_with_its_staged_rows(
    world, tmp_path, caplog
):
    lake_dir = tmp_path / "lake"
    # the third stream (products) is staged, its commit not yet written
    child = sync_process(world, lake_dir, "shop", "staged:3")
    child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    lake = open_lake(str(lake_dir))
    killed_id = lake.read_json(str(marker_of(lake_dir, "shop")))["sync_id"]
    with caplog.at_level("WARNING"):
        rerun(world, lake_dir, "shop")
    record = lake.read_json(str(lake_dir / "_ops" / "runs" / "shop" / f"{killed_id}.json"))
    assert record["status"] == "interrupted"
    assert record["source"] == "sql" and record["finished_at"]
    assert record["interrupted"]["committed_some"] is True  # customers and merchants
    assert "products" in record["interrupted"]["streams"]
    files = record["interrupted"]["staged_files"]
    assert files and all(f"/{killed_id}/shop/products/" in f for f in files)
    products = sqlite3.connect(world / "shop.db").execute("select count(*) from products")
    assert record["interrupted"]["staged_rows"] == products.fetchone()[0]
    assert f"sync {killed_id} was interrupted" in caplog.text
    assert not (lake_dir / "bronze" / "_staging" / "shop").exists()


@pytest.mark.integration
def test_a_sync_killed_on_an_s3_lake_is_recorded_and_its_staging_removed(
    world, s3_endpoint, monkeypatch
):
    for key, value in s3_endpoint.env.items():
        monkeypatch.setenv(key, value)
    url = "s3://lake-kills/demo"
    child = sync_process(world, url, "shop", "staged:3")  # products staged, not committed
    child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    lake = open_lake(url)
    killed_id = lake.read_json(lake.path("_ops", "running", "shop.json"))["sync_id"]
    assert lake.list_files(lake.path("bronze", "_staging", "shop"))
    rerun(world, url, "shop")
    record = lake.read_json(lake.path("_ops", "runs", "shop", f"{killed_id}.json"))
    assert record["status"] == "interrupted"
    products = sqlite3.connect(world / "shop.db").execute("select count(*) from products")
    expected = products.fetchone()[0]
    assert record["interrupted"]["staged_rows"] == expected
    assert not lake.list_files(lake.path("bronze", "_staging"))
    assert not lake.exists(lake.path("_ops", "running", "shop.json"))
    # the rerun wrote the products the killed sync had staged, once
    files = lake.list_files(lake.bronze("shop", "products"), ".parquet")
    assert sum(pq.read_metadata(i.path, filesystem=lake.fs).num_rows for i in files) == expected


@pytest.mark.integration
def test_a_second_sync_of_a_running_connection_fails_and_leaves_the_first_alone(world, tmp_path):
    lake_dir = tmp_path / "lake"
    connection = load_connections(
        REPO_ROOT / "connections.yml", environment(world, lake_dir)
    ).connections["shop"]
    paused, release = threading.Event(), threading.Event()

    def progress(stream: str, read: int, written: int) -> None:
        if stream == "orders":  # hold the first sync mid-stream, its files staged
            paused.set()
            release.wait(60)

    results = []
    first = threading.Thread(
        target=lambda: results.append(
            sync_connection(open_lake(str(lake_dir)), "shop", connection, progress=progress)
        )
    )
    first.start()
    try:
        assert paused.wait(60)
        staging = lake_dir / "bronze" / "_staging" / "shop"
        before = sorted(p.name for p in staging.rglob("*"))
        second = sync_process(world, lake_dir, "shop")
        _, errors = second.communicate(timeout=120)
        assert second.returncode == 2
        assert "shop: another sync of this connection is running (sync " in errors
        assert sorted(p.name for p in staging.rglob("*")) == before  # nothing cleaned
        with pytest.raises(ConnectionBusyError):
            sync_connection(open_lake(str(lake_dir)), "shop", connection)
    finally:
        release.set()
        first.join(120)
    assert results and results[0].status == "succeeded"
    reference_dir = tmp_path / "reference"
    rerun(world, reference_dir, "shop")
    assert bronze_rows(lake_dir, "shop") == bronze_rows(reference_dir, "shop")


# -- each row once ---------------------------------------------------------------------------
def tied_connection(tmp_path: Path, dsn: str):
    """A table whose rows share few cursor values, read in batches much smaller than a tie,
    with a two-column key (text then number) so both orders matter."""
    (tmp_path / "c.yml").write_text(
        "connections:\n  ties:\n    source: sql\n"
        f"    config: {{dsn: '{dsn}', batch_rows: 500}}\n"
        "    streams:\n"
        "      - {name: events, sync_mode: incremental, destination_sync_mode: append_dedup,"
        " cursor_field: updated_at, primary_key: [region, id]}\n"
    )
    return load_connections(tmp_path / "c.yml", {}).connections["ties"]


def run_sql(dsn: str, statements: list[str]) -> None:
    with oltp_connect(dsn) as conn:
        cursor = conn.cursor()
        for statement in statements:
            cursor.execute(statement)
        conn.commit()


def insert_rows(ids: range, regions: list[str], stamp: str) -> str:
    values = ", ".join(f"('{regions[i % len(regions)]}', {i}, {stamp}, 'v{i}')" for i in ids)
    return f"INSERT INTO events (region, id, updated_at, payload) VALUES {values}"


def tied_syncs(tmp_path: Path, dsn: str, timestamp_type: str, stamp: str, later: str) -> None:
    # mixed case: the "C" order ('B' < 'a') differs from most locales' ('a' < 'B')
    regions = ["a", "B", "éu", "Z"]
    run_sql(
        dsn,
        [
            "CREATE TABLE events (region TEXT NOT NULL, id INTEGER NOT NULL, "
            f"updated_at {timestamp_type} NOT NULL, payload TEXT, PRIMARY KEY (region, id))",
            insert_rows(range(5000), regions, stamp),
        ],
    )
    connection = tied_connection(tmp_path, dsn)
    lake = open_lake(str(tmp_path / "lake"))

    def rows_of_one_sync(reread: int | None = 0) -> int:
        stream = sync_connection(lake, "ties", connection).streams[0]
        assert stream.rows_read == stream.rows_written
        assert stream.rows_reread == reread
        return stream.rows_written

    assert rows_of_one_sync(reread=None) == 5000  # no position yet: nothing to count
    assert rows_of_one_sync() == 0  # nothing changed: nothing read, nothing written
    # new rows at the last cursor value, keys after the last one read ('éz' > 'éu' > 'a'),
    # and changed rows at a later value
    run_sql(
        dsn,
        [
            insert_rows(range(5000, 5300), ["éz"], stamp),
            f"UPDATE events SET updated_at = {later}, payload = 'changed' WHERE id < 100",
        ],
    )
    assert rows_of_one_sync() == 400
    assert rows_of_one_sync() == 0
    # state from before the key was kept: read the rows at the cursor once more, then upgrade
    state_path = lake.path("_ops", "state", "ties.json")
    document = lake.read_json(state_path)
    del document["streams"]["events"]["state"]["cursor_key"]
    lake.write_json(state_path, document)
    assert rows_of_one_sync(reread=100) == 100  # all of them read before
    assert "cursor_key" in lake.read_json(state_path)["streams"]["events"]["state"]
    assert rows_of_one_sync() == 0
    bronze = (
        duckdb.connect()
        .sql(
            "select region, id, payload from "
            f"read_parquet('{tmp_path}/lake/bronze/ties/events/*/*')"
        )
        .fetchall()
    )
    # each version of each row once, bar the 100 the legacy state re-read
    assert len(bronze) == 5300 + 100 + 100
    assert len(set(bronze)) == 5400


def test_rows_sharing_one_cursor_value_are_each_read_once_on_sqlite(tmp_path):
    dsn = f"sqlite:///{tmp_path}/ties.db"
    tied_syncs(tmp_path, dsn, "TEXT", "'2026-10-31T23:59:59'", "'2026-11-01T00:59:59'")


@pytest.mark.integration
def test_rows_sharing_one_cursor_value_are_each_read_once_on_postgres(tmp_path, postgres_database):
    tied_syncs(
        tmp_path,
        postgres_database,
        "TIMESTAMPTZ",
        "TIMESTAMPTZ '2026-10-31 23:59:59+00'",
        "TIMESTAMPTZ '2026-11-01 00:59:59+00'",
    )
