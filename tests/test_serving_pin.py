"""Serving pinned to the published DuckLake snapshot, with real runs: dbt killed mid-build
leaves the published snapshot readable and the next build correct, and `lakehouse serving
rollback` returns to the first build's numbers. On a copy of the session's demo folder after
its two runs (two publishes). Readers in a loop during a sync and a dbt build: the session's
Superset test runs them (tests/test_superset.py, tests/serving_readers.py).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from lake import open_lake
from lake.tables.catalog import current_snapshot as lake_snapshot_of
from lake.tables.publications import history, published_snapshots
from orchestration.assets.dbt import PIPELINE_BUILD  # the builds a pipeline runs
from orchestration.settings import Settings
from serving.duckdb_catalog import catalog_path, open_served
from tests.dbt_runs import in_the_data_folder
from tests.serving_readers import QUERY, SUPERSET_PYTHON, served_answer
from tests.shared_lake import SharedDemo, serve_the_copy
from tests.test_pipeline import dbt_env

# the session's shared demo folder to wait for: minutes on a quiet machine, over the default
# 900 s per test on a shared one (load average 20+)
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]
ROOT = Path(__file__).resolve().parent.parent


def assert_published(report) -> None:
    """The run built, tested and published gold (else its log says why)."""
    stages = [name for name, *_ in report.stages]
    if report.failed_steps or not any(name.startswith("publish gold") for name in stages):
        log = report.log_path.read_text()[-6000:] if report.log_path else ""
        pytest.fail(f"the run did not publish: {report.failed_steps} {stages}\n{log}")
    assert report.dbt["failures"] == []


@dataclass(frozen=True)
class TwoBuilds:
    settings: Settings
    first: list  # what the dashboards showed after the first build
    second: list  # after the second


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory, shared_demo: SharedDemo) -> TwoBuilds:
    """A copy of the session's demo folder after its two runs (tests/shared_lake.py), each
    published, the copy serving its own lake."""
    assert_published(shared_demo.first)
    assert_published(shared_demo.second)
    root = tmp_path_factory.mktemp("serving-pin")
    settings = shared_demo.copy(shared_demo.after_second, root / "data")
    serve_the_copy(settings)
    with open_served(catalog_path(settings.serving_dir)) as con:
        (attach,) = con.execute("select statement from _serving.lake_attachment").fetchone()
    assert str(root / "data" / "lake.sqlite") in attach  # the copy's lake, not the original's
    # the first build as it was served (the folder the first run left, read as it is)
    first = served_answer(Settings.from_env({"DATA_DIR": str(shared_demo.after_first)}))
    second = served_answer(settings)
    assert first != second  # the change set changed gold
    return TwoBuilds(settings, first, second)


def lake_snapshot(settings: Settings) -> int:
    from tests.test_pipeline import gold_tables

    with gold_tables(settings.data_dir) as con:
        return lake_snapshot_of(con)


def test_dbt_killed_mid_build_leaves_the_published_snapshot_readable(two_builds, tmp_path):
    settings = two_builds.settings
    command, env = in_the_data_folder(  # as the pipeline starts dbt
        [*PIPELINE_BUILD, "--full-refresh"], dbt_env(settings.data_dir), tmp_path / "target"
    )
    before = lake_snapshot(settings)
    # killed once it has committed a random number (1-12) of silver and gold tables
    commits = random.randint(1, 12)
    build = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen, log = 0, []
    for line in build.stdout:
        log.append(line)
        if " OK created " in line and (".intermediate." in line or ".marts." in line):
            seen += 1
            if seen == commits:
                os.killpg(build.pid, signal.SIGKILL)
                break
    build.communicate()
    assert seen == commits, f"dbt ended before {commits} lake tables:\n{''.join(log[-30:])}"
    assert build.returncode == -signal.SIGKILL
    print(f"dbt killed after {commits} silver/gold tables: {log[-1].strip()}")
    assert lake_snapshot(settings) > before  # the killed build did commit to the lake

    # the dashboards still read the published snapshot, as published
    assert served_answer(settings) == two_builds.second
    # the next build is correct: nothing changed in the sources, so gold comes back the same
    command, env = in_the_data_folder(
        list(PIPELINE_BUILD), dbt_env(settings.data_dir), tmp_path / "target"
    )
    rebuilt = subprocess.run(command, env=env, capture_output=True, text=True)
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    from tests.test_pipeline import gold_tables

    with gold_tables(settings.data_dir) as con:
        latest = list(con.execute(QUERY.replace("analytics.", "lake.marts.")).fetchone())
    assert latest == two_builds.second
    assert served_answer(settings) == two_builds.second


def test_rollback_returns_the_dashboards_to_the_previous_publish(two_builds):
    settings = two_builds.settings
    env = {**os.environ, "DATA_DIR": str(settings.data_dir)}
    lakehouse = str(ROOT / ".venv" / "bin" / "lakehouse")
    lake = open_lake(settings.lake_url, create=False)
    publishes = [p.lake_snapshot_id for p in history(lake) if p.action == "publish"]
    assert len(publishes) == 2, publishes  # one per demo run
    first_snapshot, second_snapshot = publishes

    rolled = subprocess.run(
        [lakehouse, "serving", "rollback"], env=env, capture_output=True, text=True
    )
    assert rolled.returncode == 0, rolled.stderr
    assert f"the dashboards read DuckLake snapshot {first_snapshot}" in rolled.stdout
    assert served_answer(settings) == two_builds.first
    if SUPERSET_PYTHON.exists():  # and through Superset's connection
        one_shot = subprocess.run(
            [
                str(SUPERSET_PYTHON),
                "-c",
                "import sys; sys.path.insert(0, 'superset'); from served_lake import install; "
                "install(); from sqlalchemy import create_engine, text; "
                f"e = create_engine('duckdb:///{catalog_path(settings.serving_dir)}', "
                "connect_args={'read_only': True}); "
                f"print(list(e.connect().execute(text({QUERY!r})).fetchone()))",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert one_shot.returncode == 0, one_shot.stderr[-2000:]
        assert one_shot.stdout.strip() == str(two_builds.first)

    status = subprocess.run(
        [lakehouse, "serving", "status"], env=env, capture_output=True, text=True
    )
    assert status.returncode == 0, status.stderr
    assert f"served: DuckLake snapshot {first_snapshot} (rollback" in status.stdout
    assert [(p.action, p.lake_snapshot_id) for p in history(lake)] == [
        ("publish", first_snapshot),
        ("publish", second_snapshot),
        ("rollback", first_snapshot),
    ]
    # both stay protected from snapshot expiry
    assert published_snapshots(lake) == [first_snapshot, second_snapshot]
    # nothing before the first publish
    again = subprocess.run(
        [lakehouse, "serving", "rollback"], env=env, capture_output=True, text=True
    )
    assert again.returncode == 2
    assert "nothing to roll back to" in again.stderr
    assert served_answer(settings) == two_builds.first
