"""Readers of the serving catalog in a loop while something runs, the way dashboards read it:
with Superset's own virtualenv (SQLAlchemy, duckdb-engine and the connect hook of
superset/superset_config.py) when it exists (`make superset-setup`), and with the project's
`open_served` in any case. Each flavour is a process of its own; each records every distinct
answer with the time it first saw it, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestration.settings import REPO_ROOT, Settings
from serving.duckdb_catalog import catalog_path, open_served

SUPERSET_PYTHON = REPO_ROOT / ".superset-venv" / "bin" / "python"

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


def start_reader(script: Path, settings: Settings, stop: Path, flavour: str) -> subprocess.Popen:
    python = str(SUPERSET_PYTHON) if flavour == "superset" else sys.executable
    return subprocess.Popen(
        [python, str(script), str(catalog_path(settings.serving_dir)), str(stop), flavour, QUERY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def reader_flavours() -> list[str]:
    return ["superset", "python"] if SUPERSET_PYTHON.exists() else ["python"]


@contextmanager
def readers_meanwhile(settings: Settings, root: Path) -> Iterator[dict[str, dict]]:
    """Every reader flavour reading from before the block (each has answered once) to 3 s
    after it; the dict holds each flavour's outcome once the block is left."""
    script, stop = root / "reader.py", root / "stop-readers"
    script.write_text(READER)
    readers = {f: start_reader(script, settings, stop, f) for f in reader_flavours()}
    outcomes: dict[str, dict] = {}
    try:
        ready = [Path(f"{stop}.ready-{flavour}") for flavour in readers]
        deadline = time.monotonic() + 180
        while not all(path.exists() for path in ready) and time.monotonic() < deadline:
            assert all(r.poll() is None for r in readers.values()), "a reader ended early"
            time.sleep(0.2)
        assert all(path.exists() for path in ready), "the readers did not answer within 180 s"
        yield outcomes
        time.sleep(3)  # and read what was published last for a while
    finally:
        stop.touch()
        for flavour, reader in readers.items():
            out, err = reader.communicate(timeout=120)
            assert reader.returncode == 0, err[-3000:]
            outcomes[flavour] = json.loads(out)


def assert_only_published_answers(
    outcomes: dict[str, dict], before: list, after: list, started: float
) -> None:
    """Every reader read without an error, and only the answer of the publish before the run
    (until the run started, at least) or of the run's own publish (after it started)."""
    assert before != after  # the run changed gold
    published = {json.dumps(before), json.dumps(after)}
    for flavour, outcome in outcomes.items():
        print(flavour, outcome["reads"], "reads,", outcome["error_count"], "errors")
        assert outcome["error_count"] == 0, (flavour, outcome["errors"])
        # never a half-built run
        assert set(outcome["answers"]) <= published, (flavour, outcome["answers"], published)
        assert outcome["answers"][json.dumps(before)] < started, flavour
        assert started < outcome["answers"][json.dumps(after)], flavour
        assert outcome["reads"] >= 20, (flavour, outcome)
