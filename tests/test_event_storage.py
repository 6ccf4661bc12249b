"""The embedded instance's event log (orchestration/event_storage.py): same files and schema
as Dagster's SQLite event log, connections kept open, and a run's file touched on writes so
the UI's watcher sees them."""

from __future__ import annotations

import os
import threading

from dagster import AssetKey, DagsterEventType, DagsterInstance, asset, materialize

from orchestration.event_storage import LakehouseSqliteEventLogStorage
from orchestration.instance import EARLIER_YAML, prepare_dagster_home


@asset
def numbers():
    return [1, 2, 3]


def test_the_instance_records_runs_into_the_kept_open_event_log(tmp_path):
    home = prepare_dagster_home(tmp_path / "home")
    instance = DagsterInstance.from_config(str(home))
    assert isinstance(instance.event_log_storage, LakehouseSqliteEventLogStorage)

    result = materialize([numbers], instance=instance)
    assert result.success
    run_file = home / "history" / "runs" / f"{result.run_id}.db"
    assert run_file.exists()

    # another process's view of the same files (Dagster's own storage) reads the same history
    from dagster._core.storage.event_log import SqliteEventLogStorage

    plain = SqliteEventLogStorage(str(home / "history" / "runs"))
    records = plain.get_records_for_run(result.run_id).records
    assert DagsterEventType.RUN_SUCCESS in {r.event_log_entry.dagster_event_type for r in records}
    latest = instance.get_latest_materialization_event(AssetKey("numbers"))
    assert latest is not None and latest.run_id == result.run_id


def test_a_write_to_a_run_touches_its_file_and_a_read_does_not(tmp_path):
    home = prepare_dagster_home(tmp_path / "home")
    instance = DagsterInstance.from_config(str(home))
    run_id = materialize([numbers], instance=instance).run_id
    storage = instance.event_log_storage
    run_file = home / "history" / "runs" / f"{run_id}.db"

    os.utime(run_file, (1, 1))
    storage.get_records_for_run(run_id)  # a read: the UI's watcher reads on every change
    assert run_file.stat().st_mtime == 1

    changed = threading.Event()
    storage.watch(run_id, None, lambda *_: changed.set())
    try:
        instance.report_engine_event("a line in the run's log", instance.get_run_by_id(run_id))
        assert run_file.stat().st_mtime > 1
        assert changed.wait(10), "the watcher was not woken by the write"
    finally:
        storage.dispose()


def test_an_instance_file_from_an_earlier_version_is_upgraded_an_edited_one_is_kept(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    config = home / "dagster.yaml"
    config.write_text(EARLIER_YAML, encoding="utf-8")
    prepare_dagster_home(home)
    assert "LakehouseSqliteEventLogStorage" in config.read_text(encoding="utf-8")

    edited = "telemetry:\n  enabled: false\n"
    config.write_text(edited, encoding="utf-8")
    prepare_dagster_home(home)
    assert config.read_text(encoding="utf-8") == edited
