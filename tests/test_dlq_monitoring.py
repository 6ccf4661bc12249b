"""The pipeline-health marts against what the syncs and the replay recorded: a clickstream
drop with bad lines synced, fixed and replayed, an alert raised, then the ops models built
with dbt on DuckDB. Every figure is compared with the run records, the DLQ files and the
alert in the lake, not with numbers written here."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingestion.connections import load_connections
from ingestion.dlq import dlq_files, read_dead_letters
from ingestion.dlq_replay import replay_dead_letters
from ingestion.schedule import next_tick
from ingestion.sync import sync_connection
from lake import open_lake
from lake.alerts import Alert, send_alert
from orchestration.settings import DBT_PROJECT_DIR
from tests.dbt_runs import dbt_on
from warehouse.postgres_raw import load_bronze_to_postgres

pytestmark = pytest.mark.integration
OPS_MODELS = ["path:models/staging/ops", "path:models/intermediate/ops", "path:models/marts/ops"]
SCHEDULE = "*/15 * * * *"


def connections_file(tmp_path: Path, required: str) -> Path:
    landing = tmp_path / "landing"
    landing.mkdir(exist_ok=True)
    path = tmp_path / "connections.yml"
    path.write_text(
        "connections:\n  clickstream:\n    source: files\n"
        f"    config: {{url: '{landing}'}}\n    schedule: '{SCHEDULE}'\n    streams:\n"
        "      - {name: events, sync_mode: incremental, destination_sync_mode: append_dedup,"
        " primary_key: [event_id], pattern: 'events-*.jsonl', format: jsonl,"
        f" required: [{required}]}}\n"
    )
    return path


def clickstream(path: Path):
    return load_connections(path, {}).connections["clickstream"]


def event(n: int, session: str | None) -> str:
    record = {"event_id": n, "occurred_at": "2026-11-01T10:00:00Z", "page": f"/p{n}"}
    if session:
        record["session_id"] = session
    return json.dumps(record)


def dbt_build(
    root: Path, lake_root: Path, target: str = "duckdb", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """The ops models alone (they read only _ops and the DLQ), with their own target path; on
    DuckDB from the data folder, as the pipeline starts dbt (tests/dbt_runs.py)."""
    settings = {
        "LAKE_ROOT": str(lake_root),
        "DUCKDB_PATH": str(root / "warehouse.duckdb"),
        "LAKE_CATALOG": f"sqlite:{lake_root.parent / (lake_root.name + '.sqlite')}",
        **(env or {}),
    }
    args = ["build", "--select", *OPS_MODELS, "--log-path", str(root / f"logs-{target}")]
    command, env = dbt_on(target, args, settings, root / f"target-{target}")
    return subprocess.run(
        command, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    """Two syncs (the second with nothing new), a replay after the fix, an alert; the ops
    models built. Returns the lake, the run documents and the warehouse."""
    root = tmp_path_factory.mktemp("dlq-monitoring")
    strict = connections_file(root, "occurred_at, session_id")
    lines = [event(n, None if n % 4 == 0 else "s") for n in range(1, 21)]
    lines[6] = '{"event_id": 7, "occurred'  # cut short
    (root / "landing" / "events-2026-11-01.jsonl").write_text("\n".join(lines) + "\n")
    lake = open_lake(str(root / "lake"))
    syncs = [sync_connection(lake, "clickstream", clickstream(strict)) for _ in range(2)]
    fixed = connections_file(root, "occurred_at")
    replay = replay_dead_letters(lake, "clickstream", clickstream(fixed))
    send_alert(lake, Alert("run_failure", "Dagster run 1234abcd of sync_shop failed"))
    send_alert(
        lake,
        Alert(
            "check_failure",
            "an old one",
            created_at=datetime.now(UTC) - timedelta(hours=30),
        ),
    )
    result = dbt_build(root, root / "lake")
    assert result.returncode == 0, result.stdout[-5000:]
    assert "ERROR=0" in result.stdout and "WARN=0" in result.stdout, result.stdout[-3000:]
    from test_dbt_postgres import duckdb_layers

    warehouse = duckdb_layers(root / "warehouse.duckdb", root / "lake")
    yield lake, syncs, replay, warehouse
    warehouse.close()


def rows(warehouse, sql: str) -> list[dict]:
    cursor = warehouse.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_pipeline_health_adds_up_to_the_run_records(monitored):
    lake, syncs, replay, warehouse = monitored
    (health,) = rows(warehouse, "select * from marts.pipeline_health")
    streams = [s.streams[0] for s in syncs]
    assert health["last_sync_id"] == syncs[-1].sync_id  # the replay is not a sync
    assert health["sync_count"] == len(syncs)
    assert health["syncs_last_24h"] == len(syncs)
    assert health["rows_written_last_24h"] == sum(s.rows_written for s in streams)
    assert health["rows_read_last_24h"] == sum(s.rows_read for s in streams)
    assert health["source_records_total"] == sum(s.source_rows for s in streams)
    assert health["records_lost_total"] == 0
    assert health["error_rate_last_24h"] == 0
    assert float(health["stream_seconds_p99_last_24h"]) <= max(s.seconds for s in streams)
    # what the DLQ holds now, and what the replay took out of it
    waiting = read_dead_letters(lake, dlq_files(lake, "clickstream", "events")).num_rows
    assert health["dlq_records_total"] == waiting == replay.streams[0].rows_dlq
    assert health["dlq_records_replayed_total"] == replay.streams[0].rows_read
    # freshness: the schedule's next tick after the last sync started, not due yet
    assert health["stream_schedule"] == SCHEDULE
    due = next_tick(SCHEDULE, syncs[-1].started_at)
    assert health["next_sync_due_at"] == due.replace(tzinfo=None)
    assert health["is_late"] is False


def test_the_dlq_by_reason_and_the_replay_match_the_lake(monitored):
    lake, syncs, replay, warehouse = monitored
    by_reason = {
        r["reason_kind"]: r for r in rows(warehouse, "select * from marts.dead_letters_by_reason")
    }
    letters = read_dead_letters(lake, dlq_files(lake, "clickstream", "events"))
    assert by_reason["invalid JSON"]["dead_letters"] == letters.num_rows == 1
    required = by_reason["required field 'session_id' is null or missing"]
    assert required["dead_letters"] == 0  # all replayed after the fix
    assert required["replayed_dead_letters"] == syncs[0].streams[0].rows_dlq - 1
    (replayed,) = rows(warehouse, "select * from marts.dlq_replays")
    stream = replay.streams[0]
    assert replayed["replay_id"] == replay.sync_id
    assert (
        replayed["dead_letters_taken"],
        replayed["records_landed"],
        replayed["dead_letters_left"],
    ) == (stream.rows_read, stream.rows_written, stream.rows_dlq)
    assert replayed["is_balanced"] is True


def test_throughput_durations_and_alerts(monitored):
    lake, syncs, _, warehouse = monitored
    hourly = rows(warehouse, "select * from marts.sync_throughput_hourly where is_last_24h")
    assert sum(r["rows_written"] for r in hourly) == sum(s.streams[0].rows_written for s in syncs)
    assert sum(r["sync_count"] for r in hourly) == len(syncs)
    (connection,) = rows(warehouse, "select * from marts.connection_sync_health")
    durations = sorted((s.finished_at - s.started_at).total_seconds() for s in syncs)
    assert connection["syncs_last_24h"] == len(syncs)
    assert float(connection["sync_seconds_max_last_24h"]) == pytest.approx(durations[-1], abs=1e-3)
    assert durations[0] - 1e-3 <= float(connection["sync_seconds_p50_last_24h"]) <= durations[-1]
    alerts = rows(warehouse, "select * from marts.pipeline_alerts order by created_at")
    recorded = [lake.read_json(f.path) for f in lake.list_files(lake.path("_ops", "alerts"))]
    assert len(alerts) == len(recorded) == 2
    assert [a["is_active"] for a in alerts] == [False, True]
    assert alerts[1]["alert_title"] == "Dagster run 1234abcd of sync_shop failed"


# what does not depend on the clock of the build, per mart
COMPARED = {
    "pipeline_health": "connection_name, stream_name, last_sync_id, rows_written_total, "
    "dlq_records_total, dlq_records_replayed_total, source_records_total, records_lost_total, "
    "syncs_last_24h, rows_written_last_24h, error_rate_last_24h, stream_schedule, "
    "next_sync_due_at, is_late, health_status",
    "dead_letters_by_reason": "connection_name, stream_name, reason_kind, dead_letters, "
    "replayed_dead_letters, example_reason",
    "dlq_replays": "replay_id, stream_name, dead_letters_taken, records_landed, "
    "dead_letters_left, is_balanced",
    "sync_throughput_hourly": "sync_hour, stream_name, sync_count, rows_read, rows_written, "
    "rows_dlq, is_last_24h",
    "connection_sync_health": "connection_name, syncs_last_24h, failed_syncs_last_24h",
    "pipeline_alerts": "alert_id, alert_kind, alert_title, is_active",
}


def test_the_ops_marts_build_on_postgres_with_the_same_figures(
    monitored, postgres_database, tmp_path
):
    from test_dbt_postgres import pg, pg_env

    lake, _, replay, warehouse = monitored
    loaded = load_bronze_to_postgres(lake, postgres_database, ["ops"])
    assert loaded["raw_ops.replayed_dead_letters"] == replay.streams[0].rows_read
    assert loaded["raw_ops.alerts"] == 2
    result = dbt_build(tmp_path, Path(lake.url), "postgres", pg_env(postgres_database))
    assert result.returncode == 0, result.stdout[-5000:]
    assert "ERROR=0" in result.stdout and "WARN=0" in result.stdout, result.stdout[-3000:]
    for mart, columns in COMPARED.items():
        query = f"select {columns} from marts.{mart} order by 1, 2, 3"
        duck = warehouse.execute(query).fetchall()
        assert duck, mart
        assert [tuple(row) for row in pg(postgres_database, query)] == duck, mart
    # durations to the millisecond: the engines may round a difference of timestamps apart
    query = "select sync_seconds_p50_last_24h, sync_seconds_p99_last_24h from marts.{}"
    duck = warehouse.execute(query.format("connection_sync_health")).fetchone()
    (on_postgres,) = pg(postgres_database, query.format("connection_sync_health"))
    assert [float(v) for v in on_postgres] == pytest.approx([float(v) for v in duck], abs=2e-3)
