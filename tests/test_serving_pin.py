"""Serving pinned to the published DuckLake snapshot, with real runs: dashboards query in a loop
while a second demo run syncs and rebuilds gold (every answer is one of the published builds'),
dbt killed mid-build, and `lakehouse serving rollback` back to the first build's numbers.

Readers query the serving catalog the way Superset does: with Superset's own virtualenv
(SQLAlchemy, duckdb-engine and the connect hook of superset/superset_config.py) when it
exists (`make superset-setup`), and with the project's `open_served` in any case.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lake import open_lake
from lake.tables.catalog import current_snapshot as lake_snapshot_of
from lake.tables.publications import history, published_snapshots
from orchestration.assets.dbt import PIPELINE_BUILD  # the builds a pipeline runs
from orchestration.bi import superset_executable
from orchestration.demo import run_demo
from orchestration.settings import Settings
from serving.duckdb_catalog import catalog_path, open_served
from tests.dbt_runs import in_the_data_folder
from tests.shared_lake import SharedDemo, serve_the_copy
from tests.test_pipeline import (
    assert_dbt_reused_the_parse_state,
    dbt_env,
    newest_pipeline_build_log,
)

# a demo run in the fixture, and the session's shared demo folder to wait for: minutes on a
# quiet machine, over the default 900 s per test on a shared one (load average 20+)
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]
ROOT = Path(__file__).resolve().parent.parent
READER_FLAVOURS = ("superset", "python")  # Superset's DuckDB and driver, and ours

# what a dashboard shows: orders, and revenue summed over the days (two marts, one connection)
QUERY = (
    "select (select count(*) from analytics.fct_orders), "
    "(select cast(sum(gross_revenue_reporting) as varchar) from analytics.daily_revenue)"
)

READER = textwrap.dedent(
    """
    import json, os, sys, time
    catalog, stop, flavour, query = sys.argv[1:5]
    if flavour == "superset":
        # Superset's path: a new engine and connection per query (NullPool), the connect
        # hook that superset_config.py installs
        sys.path.insert(0, os.path.join(os.getcwd(), "superset"))
        from served_lake import install
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool
        install()

        def ask():
            engine = create_engine(
                f"duckdb:///{catalog}", connect_args={"read_only": True}, poolclass=NullPool
            )
            with engine.connect() as con:
                return list(con.execute(text(query)).fetchone())
    else:
        from serving.duckdb_catalog import open_served
        kept = {}

        def ask():
            target = os.path.realpath(catalog)
            if target not in kept:  # one kept open per catalog file, as the hook does
                kept[target] = open_served(target)
            with open_served(catalog) as con:
                return list(con.execute(query).fetchone())

    answers, errors, reads = {}, [], 0
    while not os.path.exists(stop):
        try:
            answer = json.dumps(ask())
            answers.setdefault(answer, time.time())
            reads += 1
            if reads == 1:
                open(f"{stop}.ready-{flavour}", "w").close()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.05)
    print(json.dumps({"reads": reads, "errors": errors[:5], "error_count": len(errors),
                      "answers": answers}))
    """
)


def served_answer(settings: Settings) -> list:
    with open_served(catalog_path(settings.serving_dir)) as con:
        return list(con.execute(QUERY).fetchone())


def superset_python() -> str:
    """Superset's interpreter: a reader through it is part of what these tests check, so a
    missing virtualenv fails them instead of leaving that reader out."""
    return str(superset_executable("python"))


def start_reader(script: Path, settings: Settings, stop: Path, flavour: str) -> subprocess.Popen:
    python = superset_python() if flavour == "superset" else sys.executable
    return subprocess.Popen(
        [python, str(script), str(catalog_path(settings.serving_dir)), str(stop), flavour, QUERY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


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
    readers: dict[str, dict]  # flavour -> outcome of its loop during the second run
    second_run_stages: list[str]
    second_run: tuple[float, float]  # when it started and ended
    second_run_dbt_log: str  # its pipeline build's dbt.log


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory, shared_demo: SharedDemo) -> TwoBuilds:
    root = tmp_path_factory.mktemp("serving-pin")
    # the session's first demo run (tests/shared_lake.py), published, on a copy of its folder
    assert_published(shared_demo.first)
    settings = shared_demo.copy(shared_demo.after_first, root / "data")
    serve_the_copy(settings)
    with open_served(catalog_path(settings.serving_dir)) as con:
        (attach,) = con.execute("select statement from _serving.lake_attachment").fetchone()
    # the copy's lake, not the original's: a frozen copy of its catalog, its data files
    assert f"ducklake:sqlite:{root / 'data' / 'serving' / 'catalogs'}/" in attach
    assert f"DATA_PATH '{root / 'data' / 'lake'}/'" in attach
    first = served_answer(settings)

    script, stop = root / "reader.py", root / "stop-readers"
    script.write_text(READER)
    readers = {f: start_reader(script, settings, stop, f) for f in READER_FLAVOURS}
    # the readers are reading before the run starts
    ready = [Path(f"{stop}.ready-{flavour}") for flavour in readers]
    deadline = time.monotonic() + 180
    while not all(path.exists() for path in ready) and time.monotonic() < deadline:
        assert all(r.poll() is None for r in readers.values()), "a reader ended early"
        time.sleep(0.2)
    assert all(path.exists() for path in ready), "the readers did not answer within 180 s"
    started = time.time()
    second_run = run_demo(settings, quiet=True)  # a change set, syncs, dbt build, publish
    ended = time.time()
    dbt_log = newest_pipeline_build_log(settings.data_dir)
    time.sleep(3)  # and read the new publish for a while
    stop.touch()
    outcomes = {}
    for flavour, reader in readers.items():
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err[-3000:]
        outcomes[flavour] = json.loads(out)
    assert_published(second_run)
    return TwoBuilds(
        settings,
        first,
        served_answer(settings),
        outcomes,
        [name for name, *_ in second_run.stages],
        (started, ended),
        dbt_log,
    )


def test_dashboards_read_only_published_snapshots_during_a_sync_and_a_dbt_build(two_builds):
    assert two_builds.first != two_builds.second  # the change set changed gold
    stages = " | ".join(two_builds.second_run_stages)
    assert "ingest to bronze" in stages and "dbt build" in stages, stages
    published = {json.dumps(two_builds.first), json.dumps(two_builds.second)}
    started = two_builds.second_run[0]
    for flavour, outcome in two_builds.readers.items():
        print(flavour, outcome["reads"], "reads,", outcome["error_count"], "errors")
        assert outcome["error_count"] == 0, (flavour, outcome["errors"])
        # every answer is one of the published builds', never a half-built run
        assert set(outcome["answers"]) <= published, (flavour, outcome["answers"], published)
        # the first build's answers were served during the run, the second's after its publish
        assert outcome["answers"][json.dumps(two_builds.first)] < started, flavour
        assert started < outcome["answers"][json.dumps(two_builds.second)], flavour
        assert outcome["reads"] >= 20, (flavour, outcome)


def test_a_run_in_a_copied_data_folder_starts_from_the_parse_state_of_the_copy(two_builds):
    assert_dbt_reused_the_parse_state(two_builds.second_run_dbt_log)


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
    # and through Superset's connection
    one_shot = subprocess.run(
        [
            superset_python(),
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
