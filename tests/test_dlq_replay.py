"""Replaying dead letters after a fix, end to end on real files: the records that now pass
land in bronze once, leave the DLQ for the replayed area, the others stay with their new
reason, a killed replay rerun duplicates nothing, and the replay is in the run log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pyarrow.dataset as ds
import pytest

from ingestion.connections import Connection, load_connections
from ingestion.dlq import dlq_files, summarize
from ingestion.dlq_replay import replay_dead_letters
from ingestion.sync import sync_connection
from lake import open_lake
from orchestration.cli import main

STREAM = (
    "{name: events, sync_mode: incremental, destination_sync_mode: append_dedup,"
    " primary_key: [event_id], pattern: 'events-*.jsonl', format: jsonl, required: [%s]}"
)


def write_connections(tmp_path, required: str):
    landing = tmp_path / "landing"
    landing.mkdir(exist_ok=True)
    path = tmp_path / "connections.yml"
    path.write_text(
        "connections:\n  clickstream:\n    source: files\n"
        f"    config: {{url: '{landing}'}}\n    schedule: '*/15 * * * *'\n"
        f"    streams:\n      - {STREAM % required}\n"
    )
    return landing, path


def clickstream(path) -> Connection:
    return load_connections(path, {}).connections["clickstream"]


def bronze(lake) -> list[dict]:
    files = [i.path for i in lake.list_files(lake.bronze("clickstream", "events"), ".parquet")]
    if not files:
        return []
    return ds.dataset(files, filesystem=lake.fs, format="parquet").to_table().to_pylist()


def dead_letters(lake) -> list[dict]:
    files = dlq_files(lake, "clickstream", "events")
    if not files:
        return []
    paths = [lake.path(k) for k in files]
    rows = ds.dataset(paths, filesystem=lake.fs, format="parquet").to_table().to_pylist()
    return sorted(rows, key=lambda r: (r["location"], r["line_number"] or 0))


def event(n: int, session: str | None = "s1") -> str:
    record = {"event_id": n, "occurred_at": f"2026-11-01T10:00:{n:02d}Z", "page": f"/p{n}"}
    if session is not None:
        record["session_id"] = session
    return json.dumps(record)


@pytest.fixture
def synced(tmp_path):
    """A clickstream drop whose stream requires session_id: 3 events lack it (DLQ), 2 lines
    are cut short (DLQ), 5 land."""
    landing, path = write_connections(tmp_path, "occurred_at, session_id")
    lines = [event(1), event(2, None), event(3), '{"event_id": 4, "occurred', event(5, None)]
    lines += [event(6), event(7), event(8, None), '{"event_id": 9', event(10)]
    (landing / "events-2026-11-01.jsonl").write_text("\n".join(lines) + "\n")
    lake = open_lake(str(tmp_path / "lake"))
    result = sync_connection(lake, "clickstream", clickstream(path))
    assert (result.streams[0].rows_written, result.streams[0].rows_dlq) == (5, 5)
    return lake, landing, path


def test_a_replay_after_the_fix_lands_the_records_once_and_keeps_the_bad_ones(synced, tmp_path):
    lake, _, _ = synced
    # the fix: session_id is not required after all
    _, path = write_connections(tmp_path, "occurred_at")
    result = replay_dead_letters(lake, "clickstream", clickstream(path))

    assert result.status == "succeeded"
    (stream,) = result.streams
    assert (stream.rows_read, stream.rows_written, stream.rows_dlq) == (5, 3, 2)
    rows = bronze(lake)
    assert sorted(r["event_id"] for r in rows) == [1, 2, 3, 5, 6, 7, 8, 10]
    replayed = [r for r in rows if r["_sync_id"] == result.sync_id]
    assert sorted(r["event_id"] for r in replayed) == [2, 5, 8]
    assert {r["_source_file"] for r in replayed} == {"events-2026-11-01.jsonl"}
    assert all(r["session_id"] is None and r["page"] for r in replayed)
    # the two cut lines stay, with their place in the file and the parser's reason
    left = dead_letters(lake)
    assert [(r["line_number"], r["_sync_id"]) for r in left] == [
        (4, result.sync_id),
        (9, result.sync_id),
    ]
    assert all(r["reason"].startswith("invalid JSON") for r in left)
    # the replayed DLQ file is kept, out of the DLQ
    moved = lake.list_files(lake.path("_ops", "dlq_replayed", "clickstream", "events"))
    assert len(moved) == 2  # the sync wrote the cut lines and the typed records apart
    document = lake.read_json(lake.path("_ops", "runs", "clickstream", f"{result.sync_id}.json"))
    assert document["kind"] == "replay"
    assert document["streams"][0]["rows_written"] == 3

    # a rerun lands nothing: the cut lines are tried again and stay
    again = replay_dead_letters(lake, "clickstream", clickstream(path))
    assert (again.streams[0].rows_read, again.streams[0].rows_written) == (2, 0)
    assert len(bronze(lake)) == 8
    assert len(dead_letters(lake)) == 2


def test_a_replay_before_the_fix_changes_nothing_but_the_reasons(synced):
    lake, _, path = synced
    result = replay_dead_letters(lake, "clickstream", clickstream(path))
    assert (result.streams[0].rows_written, result.streams[0].rows_dlq) == (0, 5)
    assert len(bronze(lake)) == 5
    reasons = sorted(r["reason"] for r in dead_letters(lake))
    assert reasons.count("required field 'session_id' is null or missing") == 3


def test_a_record_whose_key_was_synced_again_later_is_not_landed(synced, tmp_path):
    lake, landing, _ = synced
    # event 2 arrives again, whole, in a later drop: bronze has a newer version of it
    (landing / "events-2026-11-02.jsonl").write_text(event(2, "s9") + "\n")
    _, path = write_connections(tmp_path, "occurred_at")
    sync_connection(lake, "clickstream", clickstream(path))
    result = replay_dead_letters(lake, "clickstream", clickstream(path))
    assert (result.streams[0].rows_written, result.streams[0].rows_dlq) == (2, 3)
    versions = [r for r in bronze(lake) if r["event_id"] == 2]
    assert [v["session_id"] for v in versions] == ["s9"]
    (superseded,) = [r for r in dead_letters(lake) if r["reason"].startswith("superseded")]
    assert superseded["location"] == "events-2026-11-01.jsonl"
    assert json.loads(superseded["raw"])["event_id"] == 2


KILLED_REPLAY = textwrap.dedent(
    """
    import sys
    from ingestion.connections import Connection, load_connections
    from ingestion.dlq_replay import replay_dead_letters
    from lake import open_lake

    connection = load_connections(sys.argv[1], {}).connections["clickstream"]
    replay_dead_letters(open_lake(sys.argv[2]), "clickstream", connection)
    """
)


@pytest.mark.parametrize("point", ["staged", "committed", "moved-one"])
def test_a_replay_killed_midway_and_rerun_lands_each_record_once(synced, tmp_path, point):
    lake, _, _ = synced
    _, path = write_connections(tmp_path, "occurred_at")
    script = tmp_path / "replay.py"
    script.write_text(KILLED_REPLAY)
    killed = subprocess.run(
        [sys.executable, str(script), str(path), str(tmp_path / "lake")],
        env={**os.environ, "LAKEHOUSE_TEST_KILL_AT": point},
        timeout=120,
    )
    assert killed.returncode == -9
    result = replay_dead_letters(lake, "clickstream", clickstream(path))
    rows = bronze(lake)
    assert sorted(r["event_id"] for r in rows) == [1, 2, 3, 5, 6, 7, 8, 10]
    assert sorted(r["line_number"] for r in dead_letters(lake)) == [4, 9]
    # killed before its commit point, the rerun did the work; after it, the rerun found
    # the commit finished and had only the two cut lines left to try
    assert result.streams[0].rows_read == (5 if point == "staged" else 2)
    runs = [
        lake.read_json(i.path)
        for i in lake.list_files(lake.path("_ops", "runs", "clickstream"), ".json")
    ]
    assert sorted(r["status"] for r in runs) == ["interrupted", "succeeded", "succeeded"]
    # the killed replay is recorded as a replay, not as a sync that failed
    (killed_run,) = [r for r in runs if r["status"] == "interrupted"]
    assert killed_run["kind"] == "replay"


def test_dlq_list_show_replay_from_the_command_line(synced, tmp_path, capsys, monkeypatch):
    lake, _, _ = synced
    _, path = write_connections(tmp_path, "occurred_at")
    monkeypatch.setenv("CONNECTIONS_FILE", str(path))
    monkeypatch.setenv("LAKE_URL", str(tmp_path / "lake"))
    assert main(["dlq", "list", "clickstream"]) == 0
    listed = capsys.readouterr().out
    assert "required field 'session_id'" in listed and "invalid JSON" in listed
    assert main(["dlq", "show", "clickstream", "--stream", "events"]) == 0
    shown = capsys.readouterr().out
    assert "events-2026-11-01.jsonl" in shown and '"event_id": 4, "occurred' in shown
    assert main(["dlq", "replay", "clickstream"]) == 0
    assert "3" in capsys.readouterr().out
    assert summarize(lake, "clickstream", ["events"])[0].records == 2
    assert main(["dlq", "list", "clickstream", "--stream", "nope"]) == 2
    assert "no stream named nope" in capsys.readouterr().err
