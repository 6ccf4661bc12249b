"""Lake maintenance (lake/tables/maintenance.py, `lakehouse lake maintain`) on a real lake:
two demo runs (two dbt builds, two publishes), then snapshot expiry, compaction and file
deletion. Gold reads the same before and after, the published snapshots stay readable by
time travel, bronze is untouched, and an incremental build after maintenance gives what
the same build gives on an unmaintained copy of the lake."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from datagen.changes import apply_changes
from ingestion.connections import load_connections
from lake import open_lake
from lake.tables.catalog import TableCatalog, connect, tables_in
from lake.tables.maintenance import MaintenanceError, Retention, maintain
from lake.tables.publications import published_snapshots
from orchestration.assets.dbt import PIPELINE_BUILD
from orchestration.demo import CHANGE_FRACTION
from orchestration.lake_command import kept_for_serving
from orchestration.settings import REPO_ROOT, Settings
from orchestration.sync_command import run_sync
from tests.dbt_runs import in_the_data_folder
from tests.shared_lake import SharedDemo
from tests.test_dbt_postgres import assert_green, dbt_build

# the incremental models: what compaction and expiry change the files of
INCREMENTAL = [
    "intermediate.int_orders_enriched",
    "intermediate.int_clickstream_sessionized",
    "marts.fct_orders",
    "marts.fct_order_items",
    "marts.fct_payments",
    "marts.fct_refunds",
    "marts.clickstream_5min",
]
DAY = 86_400


@pytest.fixture(scope="module")
def settings(tmp_path_factory, shared_demo: SharedDemo) -> Settings:
    """A copy of the session's demo folder: two demos at the demo's scale and seed, the
    second with a change set (incremental merges)."""
    return shared_demo.copy(shared_demo.after_second, tmp_path_factory.mktemp("m") / "data")


def _tables(settings: Settings) -> TableCatalog:
    return settings.table_catalog(open_lake(settings.lake_url, create=False).uri())


def _fingerprints(con: duckdb.DuckDBPyConnection, version: int | None = None) -> dict:
    """Rows and a hash of every row of every silver and gold table (at a version)."""
    at = f" at (version => {version})" if version is not None else ""
    return {
        f"{schema}.{table}": con.execute(
            f'select count(*), bit_xor(hash(t)) from (from lake.{schema}."{table}"{at}) t'
        ).fetchone()
        for schema in ("intermediate", "marts")
        for table in tables_in(con, schema)
    }


def _snapshot_ids(con: duckdb.DuckDBPyConnection) -> set[int]:
    return {sid for (sid,) in con.execute("select snapshot_id from lake.snapshots()").fetchall()}


def _bronze(settings: Settings) -> dict[str, int]:
    lake = open_lake(settings.lake_url, create=False)
    return {i.path: i.size for i in lake.list_files(lake.path("bronze"))}


def _own_environment() -> dict[str, str]:
    """This process's environment less the lake and dbt settings an earlier run in it
    exported (the demo's dbt step exports LAKE_CATALOG, LAKE_ROOT, DBT_*)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "DBT_"))}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _table_files(settings: Settings) -> dict[str, int]:
    lake_dir = Path(settings.lake_url)
    return {
        str(p.relative_to(lake_dir)): p.stat().st_size
        for layer in ("silver", "gold")
        for p in (lake_dir / layer).rglob("*.parquet")
    }


@pytest.mark.integration
def test_a_dry_run_says_what_it_would_expire_and_changes_nothing(settings):
    tables = _tables(settings)
    catalog, files = _sha(tables.sqlite_path), _table_files(settings)
    published = set(published_snapshots(open_lake(settings.lake_url, create=False)))
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "lake", "maintain", "--dry-run"],
        env={
            **_own_environment(),
            "DATA_DIR": str(settings.data_dir),
            "LAKE_RETENTION_DAYS": "0",
            "LAKE_KEEP_SNAPSHOTS": "1",
        },
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "dry run: nothing changed" in result.stdout
    assert "would expire" in result.stdout, result.stdout
    # the first publish is older than the last snapshot: kept, and said so
    assert f"kept for serving: {min(published)}" in result.stdout, result.stdout
    assert _sha(tables.sqlite_path) == catalog and _table_files(settings) == files


@pytest.mark.integration
def test_maintenance_keeps_what_serving_published_and_the_next_build_is_correct(settings, tmp_path):
    tables = _tables(settings)
    lake = open_lake(settings.lake_url, create=False)
    both = set(published_snapshots(lake))
    assert len(both) == 2, both  # both demo runs published
    # serving keeping one publish for rollback: the first build's snapshot is then no
    # longer one serving may roll back to
    published = kept_for_serving(lake, {"LAKE_KEEP_PUBLISHES": "1"})
    assert published == {max(both)}
    with connect(tables, read_only=True) as con:
        latest = _fingerprints(con)
        at_published = {v: _fingerprints(con, v) for v in published}
        snapshots = _snapshot_ids(con)
    bronze = _bronze(settings)
    # a table file no commit recorded (a build killed before its commit), a day old
    gold = Path(settings.lake_url) / "gold" / "fct_orders"
    orphan = gold / "ducklake-00000000-0000-0000-0000-orphaned.parquet"
    shutil.copy(next(gold.glob("ducklake-*.parquet")), orphan)
    os.utime(orphan, (time.time() - 2 * DAY, time.time() - 2 * DAY))

    # the shop changes and its sync lands in bronze; a twin of the lake is left unmaintained
    apply_changes(settings.oltp_dsn, CHANGE_FRACTION, settings.seed + 1)
    connections = load_connections(settings.connections_file, settings.interpolation_env())
    sync = run_sync(
        lake, "shop", connections.connections["shop"], None, False, Console(file=io.StringIO())
    )
    assert sync.status == "succeeded"
    bronze_after_sync = _bronze(settings)
    assert len(bronze_after_sync) > len(bronze)
    twin = tmp_path / "twin"
    twin.mkdir()
    for name in ("lake", "lake.sqlite", "warehouse.duckdb"):
        source = settings.data_dir / name
        copy = shutil.copytree if source.is_dir() else shutil.copy2
        copy(source, twin / name)

    # run as if tomorrow: on a SQLite catalog, files dropped today wait for tomorrow's run
    # (lake/tables/maintenance.py, `_as_compared`); orphans a day old as of now
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    retention = Retention(days=0, keep_last=1, grace_seconds=0, orphan_age_seconds=2 * DAY - 60)
    report = maintain(lake, tables, retention, keep=published, now=tomorrow)

    assert min(both) in report.expired and max(both) not in report.expired
    assert len(report.expired) == len(snapshots) - 1  # all but the published one
    # the first build's copies of the tables rebuilt from scratch are freed
    assert report.deleted_files > 0 and report.freed_bytes > 0
    assert report.after.bytes < report.before.bytes and report.after.files < report.before.files
    assert report.orphans == [str(orphan.relative_to(settings.lake_url))]
    assert not orphan.exists()
    assert _bronze(settings) == bronze_after_sync  # the catalog's data path is the lake root
    with connect(tables, read_only=True) as con:
        left = _snapshot_ids(con)
        assert published <= left and not left & set(report.expired)
        assert _fingerprints(con) == latest
        for version in published:  # time travel to what serving may roll back to
            assert _fingerprints(con, version) == at_published[version]
        with pytest.raises(duckdb.Error, match="No snapshot found"):
            con.execute(f"from lake.marts.fct_orders at (version => {report.expired[-1]})")

    # the same incremental build on the maintained lake and on its unmaintained twin
    for root in (settings.data_dir, twin):
        env = {
            "DBT_TARGET": "duckdb",
            "LAKE_ROOT": str(root / "lake"),
            "DUCKDB_PATH": str(root / "warehouse.duckdb"),
            "LAKE_CATALOG": f"sqlite:{root / 'lake.sqlite'}",
        }
        assert_green(dbt_build("duckdb", tmp_path / root.name, env))
    with connect(tables, read_only=True) as con:
        changed = _fingerprints(con)
        assert changed["marts.fct_orders"] != latest["marts.fct_orders"]  # the sync's changes
        unmaintained = TableCatalog.of(f"sqlite:{twin / 'lake.sqlite'}", str(twin / "lake"))
        con.execute(unmaintained.attach_sql(alias="twin", read_only=True))
        for table in INCREMENTAL:
            counts = con.execute(
                f"select (select count(*) from lake.{table}), (select count(*) from twin.{table})"
            ).fetchone()
            assert counts[0] == counts[1] > 0, (table, counts)
            # every column but the build's own (_dbt_invocation_id differs by build)
            columns = ", ".join(
                f'"{name}"'
                for (name, *_) in con.execute(f"describe lake.{table}").fetchall()
                if not name.startswith("_dbt")
            )
            lake_rows = f"select {columns} from lake.{table}"
            twin_rows = f"select {columns} from twin.{table}"
            differ = con.execute(
                f"select count(*) from (({lake_rows} except all {twin_rows}) "
                f"union all ({twin_rows} except all {lake_rows}))"
            ).fetchone()[0]
            assert differ == 0, table


@pytest.mark.integration
def test_a_second_dbt_build_on_the_same_lake_refuses_and_the_catalog_stays_whole(
    settings, tmp_path
):
    """Two `dbt build`s at once, as two pipelines (or a pipeline and a user in dbt_project/)
    would run them: the same DuckDB file, the same lake. The second stops before it touches
    the catalog, naming the file another process holds; the first builds green."""
    env = {
        "DBT_TARGET": "duckdb",
        "LAKE_ROOT": str(settings.data_dir / "lake"),
        "DUCKDB_PATH": str(settings.duckdb_path),
        "LAKE_CATALOG": settings.lake_catalog,
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    # the first as the pipeline starts dbt, the second as a user in dbt_project/
    command, first_env = in_the_data_folder(
        [*PIPELINE_BUILD, "--log-path", str(tmp_path / "logs-first")],
        {**clean, **env},
        tmp_path / "target-first",
    )
    first = subprocess.Popen(
        command,
        env=first_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # the first is building once it runs its first node: it holds the DuckDB file from
        # then to its end (probing the file instead could itself take the lock the first
        # opens it with, and fail the first)
        started = []
        for line in first.stdout:
            started.append(line)
            if " START " in line:
                break
        assert first.poll() is None, "".join(started)[-3000:]
        second = dbt_build("duckdb", tmp_path / "second", env, as_a_user=True)
        rest, _ = first.communicate(timeout=900)
        output = "".join(started) + rest
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode != 0
    assert f'Could not set lock on file "{settings.duckdb_path}"' in second.stdout
    assert first.returncode == 0 and "ERROR=0" in output, output[-3000:]
    catalog = sqlite3.connect(_tables(settings).sqlite_path)
    try:
        assert catalog.execute("pragma integrity_check").fetchall() == [("ok",)]
    finally:
        catalog.close()
    with connect(_tables(settings), read_only=True) as con:
        assert con.execute("select count(*) from lake.marts.fct_orders").fetchone()[0] > 0


def _small_lake(tmp_path: Path) -> Settings:
    """A lake whose DuckLake has a few snapshots of one table (no dbt)."""
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    with connect(_tables(settings)) as con:
        con.execute("create table lake.main.t as select range as id from range(1000)")
        for n in range(3):
            con.execute(f"insert into lake.main.t select {1000 + n}")
    return settings


def test_the_dagster_job_expires_old_snapshots_and_keeps_the_latest(tmp_path, monkeypatch):
    from orchestration.maintenance import definitions, lake_maintenance
    from orchestration.resources import LakehouseResource

    settings = _small_lake(tmp_path)
    monkeypatch.setenv("LAKE_KEEP_SNAPSHOTS", "2")
    result = lake_maintenance.execute_in_process(
        run_config={"ops": {"maintain_lake_tables": {"config": {"retention_days": 0}}}},
        resources={"lakehouse": LakehouseResource.from_settings(settings)},
    )
    assert result.success
    [event] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = event.event_specific_data.metadata
    assert metadata["snapshots_expired"].value == 3  # 0-2 of 0-4: the newest two stay
    with connect(_tables(settings), read_only=True) as con:
        assert _snapshot_ids(con) == {3, 4}
        assert con.execute("select count(*) from lake.main.t").fetchone() == (1003,)
    [schedule] = definitions().schedules
    assert schedule.cron_schedule == "30 3 * * *" and schedule.job_name == "lake_maintenance"


def test_the_cli_refuses_a_lake_without_catalog_and_creates_none(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "lake", "maintain"],
        env={**_own_environment(), "DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2
    assert f"{tmp_path / 'lake.sqlite'} does not exist yet: run a build" in result.stderr
    assert not (tmp_path / "lake.sqlite").exists()


@pytest.mark.parametrize(
    ("env", "wrong"),
    [
        ({"LAKE_RETENTION_DAYS": "a week"}, "expected numbers"),
        ({"LAKE_KEEP_SNAPSHOTS": "0"}, "keep_last 0"),
    ],
)
def test_a_retention_setting_that_cannot_work_is_named(env, wrong):
    with pytest.raises(MaintenanceError, match=wrong):
        Retention.from_env(env)
