"""Managed Airbyte connections (`source: airbyte_managed`) against a STAND-IN for Airbyte.

No Airbyte server can run here (it needs Docker or Kubernetes, and no internet). The tests
therefore start a small local HTTP server, real HTTP on a free loopback port, that
implements only what the `airbyte-api` client calls: the application token endpoint
(`POST /applications/token`), `POST /jobs` (start a sync), `GET /jobs/{id}` (poll) and
`GET /jobs` (the check). When a job starts, it writes Parquet files into the S3 bucket
(moto's server, a real S3 endpoint) the way Airbyte's S3 destination would (one folder per
stream, Airbyte's `_airbyte_*` columns), and answers `running` for a few polls before the
job's final status. It is a stand-in: it proves our client, polling, error handling and
landing; it does not prove compatibility with every Airbyte release.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion.connections import ConnectionsError, load_connections
from ingestion.sources.airbyte_managed import AirbyteJobError
from ingestion.sync import sync_connection
from lake import Lake, open_lake

pytestmark = pytest.mark.integration

BASE_PATH = "/api/public/v1"
CLIENT_ID = "lakehouse-test-app"
CONNECTION_ID = "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
BUCKET = "airbyte-managed-lake"
LANDING = f"s3://{BUCKET}/landing/airbyte/erp"


@dataclass
class StandIn:
    """The Airbyte API as far as airbyte-api uses it, plus a fake S3 destination."""

    lake: Lake
    client_secret: str
    outcome: str = "succeeded"  # or "failed", or "hang" (never ends)
    polls_before_end: int = 2
    rows_per_stream: dict[str, int] = field(default_factory=lambda: {"customers": 3, "invoices": 5})
    misreport_rows: int = 0  # added to rowsSynced, to test the reconciliation
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    jobs: dict[int, dict] = field(default_factory=dict)
    polls: dict[int, int] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def land(self, job_id: int) -> int:
        """Write one Parquet file per stream, as the S3 destination does; return the rows."""
        total = 0
        epoch = 1_780_000_000_000 + job_id
        for stream, rows in self.rows_per_stream.items():
            first = (job_id - 1) * rows
            table = pa.table(
                {
                    "_airbyte_raw_id": [str(uuid.uuid4()) for _ in range(rows)],
                    "_airbyte_extracted_at": pa.array(
                        [datetime.now(UTC)] * rows, pa.timestamp("ms", tz="UTC")
                    ),
                    "_airbyte_generation_id": pa.array([job_id] * rows, pa.int64()),
                    "id": pa.array(range(first, first + rows), pa.int64()),
                    "name": [f"{stream}-{i}" for i in range(first, first + rows)],
                }
            )
            key = f"landing/airbyte/erp/{stream}/2026_11_01_{epoch}_0.parquet"
            with self.lake.fs.open_output_stream(self.lake.path(key)) as out:
                pq.write_table(table, out)
            total += rows
        return total

    def job_document(self, job_id: int) -> dict:
        return self.jobs[job_id]


def _handler(stand_in: StandIn):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, status: int, body: dict | str) -> None:
            data = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {stand_in.token}":
                return True
            self._send(401, {"message": "Unauthorized"})
            return False

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self):
            path = urlsplit(self.path).path
            stand_in.requests.append(f"POST {path}")
            if path == f"{BASE_PATH}/applications/token":
                form = parse_qs(self._body().decode())
                if form.get("client_id") != [CLIENT_ID] or form.get("client_secret") != [
                    stand_in.client_secret
                ]:
                    return self._send(401, {"message": "invalid client credentials"})
                return self._send(
                    200,
                    {"access_token": stand_in.token, "token_type": "Bearer", "expires_in": 180},
                )
            if path == f"{BASE_PATH}/jobs":
                if not self._authorized():
                    return None
                request = json.loads(self._body())
                if request != {"connectionId": CONNECTION_ID, "jobType": "sync"}:
                    return self._send(400, {"message": f"unexpected request {request}"})
                with stand_in.lock:
                    job_id = len(stand_in.jobs) + 1
                    rows = stand_in.land(job_id)
                    stand_in.jobs[job_id] = {
                        "jobId": job_id,
                        "status": "running",
                        "jobType": "sync",
                        "startTime": datetime.now(UTC).isoformat(),
                        "connectionId": CONNECTION_ID,
                        "rowsSynced": rows + stand_in.misreport_rows,
                        "bytesSynced": 1000 * rows,
                    }
                    stand_in.polls[job_id] = 0
                return self._send(200, {**stand_in.jobs[job_id], "status": "pending"})
            return self._send(404, {"message": "not in the stand-in"})

        def do_GET(self):
            parts = urlsplit(self.path)
            stand_in.requests.append(f"GET {parts.path}")
            if not self._authorized():
                return None
            if parts.path == f"{BASE_PATH}/jobs":
                data = [stand_in.jobs[j] for j in sorted(stand_in.jobs)][-1:]
                return self._send(200, {"data": data})
            prefix = f"{BASE_PATH}/jobs/"
            if parts.path.startswith(prefix):
                job_id = int(parts.path[len(prefix) :])
                if job_id not in stand_in.jobs:
                    return self._send(404, {"message": "no such job"})
                with stand_in.lock:
                    stand_in.polls[job_id] += 1
                    job = stand_in.jobs[job_id]
                    if (
                        stand_in.outcome != "hang"
                        and stand_in.polls[job_id] > stand_in.polls_before_end
                    ):
                        job["status"] = stand_in.outcome
                return self._send(200, job)
            return self._send(404, {"message": "not in the stand-in"})

    return Handler


@pytest.fixture
def lake(s3_endpoint, monkeypatch) -> Lake:
    for name, value in s3_endpoint.env.items():
        monkeypatch.setenv(name, value)
    lake = open_lake(f"s3://{BUCKET}")
    lake.fs.delete_dir_contents(BUCKET, missing_dir_ok=True)
    return lake


@pytest.fixture
def airbyte(lake, monkeypatch) -> Iterator[tuple[StandIn, str]]:
    secret = uuid.uuid4().hex
    monkeypatch.setenv("AIRBYTE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AIRBYTE_CLIENT_SECRET", secret)
    stand_in = StandIn(lake=lake, client_secret=secret)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}{BASE_PATH}"
    monkeypatch.setenv("AIRBYTE_API_URL", url)
    yield stand_in, url
    server.shutdown()
    server.server_close()


def connections_file(tmp_path: Path, **config) -> Path:
    options = {"poll_interval_seconds": 0.05, "timeout_seconds": 20, **config}
    extra = "".join(f"      {k}: {json.dumps(v)}\n" for k, v in options.items())
    path = tmp_path / "connections.yml"
    path.write_text(
        f"""connections:
  erp:
    source: airbyte_managed
    config:
      api_url: ${{AIRBYTE_API_URL}}
      client_id: ${{AIRBYTE_CLIENT_ID}}
      client_secret: ${{AIRBYTE_CLIENT_SECRET}}
      connection_id: {CONNECTION_ID}
      landing_url: {LANDING}
{extra}    streams:
      - name: customers
        sync_mode: incremental
      - name: invoices
        sync_mode: incremental
""",
        encoding="utf-8",
    )
    return path


def load(tmp_path: Path, **config):
    return load_connections(connections_file(tmp_path, **config), os.environ).connections["erp"]


def _runs(lake: Lake) -> list[dict]:
    return [lake.read_json(i.path) for i in lake.list_files(lake.path("_ops", "runs", "erp"))]


def _bronze_rows(lake: Lake, stream: str) -> int:
    files = lake.list_files(lake.bronze("erp", stream), ".parquet")
    return sum(pq.ParquetFile(lake.fs.open_input_file(i.path)).metadata.num_rows for i in files)


def test_sync_triggers_the_job_waits_and_lands_its_files_in_bronze(airbyte, lake, tmp_path):
    stand_in, _ = airbyte
    connection = load(tmp_path)
    result = sync_connection(lake, "erp", connection)

    assert result.status == "succeeded"
    assert stand_in.requests[:2] == [
        f"POST {BASE_PATH}/applications/token",
        f"POST {BASE_PATH}/jobs",
    ]
    assert stand_in.polls[1] == stand_in.polls_before_end + 1  # polled until it ended
    streams = {s.stream: s for s in result.streams}
    assert streams["customers"].rows_written == 3
    assert streams["invoices"].rows_written == 5
    assert _bronze_rows(lake, "customers") == 3 and _bronze_rows(lake, "invoices") == 5
    # the run record under _ops: the Airbyte job, the landed files taken, the counts
    (run,) = _runs(lake)
    assert run["source"] == "airbyte_managed" and run["status"] == "succeeded"
    invoices = next(s for s in run["streams"] if s["stream"] == "invoices")
    assert invoices["state"]["airbyte_job"]["job_id"] == 1
    assert invoices["state"]["airbyte_job"]["status"] == "succeeded"
    assert invoices["state"]["airbyte_job"]["rows_synced"] == 8
    assert list(invoices["state"]["files"]) == [
        f"invoices/2026_11_01_{1_780_000_000_001}_0.parquet"
    ]
    assert invoices["rows_read"] == invoices["rows_written"] == 5
    assert lake.exists(lake.path("_ops", "state", "erp.json"))
    # bronze keeps Airbyte's columns, the landed file, and the engine's metadata
    (first,) = lake.list_files(lake.bronze("erp", "invoices"), ".parquet")
    columns = pq.ParquetFile(lake.fs.open_input_file(first.path)).schema_arrow.names
    assert {"_airbyte_raw_id", "id", "name", "_source_file", "_sync_id", "_extracted_at"} <= set(
        columns
    )

    # the next job lands new files: only those are taken
    second = sync_connection(lake, "erp", connection)
    assert second.status == "succeeded"
    assert {s.stream: s.rows_written for s in second.streams} == {"customers": 3, "invoices": 5}
    assert _bronze_rows(lake, "invoices") == 10
    assert len(_runs(lake)) == 2


def test_a_failed_job_is_a_clear_error_and_nothing_is_committed(airbyte, lake, tmp_path):
    stand_in, _ = airbyte
    stand_in.outcome = "failed"  # it landed files before failing, as a real job may
    with pytest.raises(AirbyteJobError, match=r"job 1 ended failed .*nothing was taken"):
        sync_connection(lake, "erp", load(tmp_path))
    (run,) = _runs(lake)
    assert run["status"] == "failed"
    assert f"Airbyte connection {CONNECTION_ID}: job 1 ended failed" in run["error"]
    assert not lake.exists(lake.path("_ops", "state", "erp.json"))
    assert _bronze_rows(lake, "invoices") == 0
    # a later successful job takes the failed job's files too (incremental, not lost)
    stand_in.outcome = "succeeded"
    result = sync_connection(lake, "erp", load(tmp_path))  # reconciles this job's files only
    assert {s.stream: s.rows_written for s in result.streams} == {"customers": 6, "invoices": 10}


def test_a_job_that_never_ends_times_out(airbyte, lake, tmp_path):
    stand_in, _ = airbyte
    stand_in.outcome = "hang"
    with pytest.raises(
        AirbyteJobError, match=r"job 1 did not end within 0.5s \(last status running\)"
    ):
        sync_connection(lake, "erp", load(tmp_path, timeout_seconds=0.5))
    assert stand_in.polls[1] >= 3
    (run,) = _runs(lake)
    assert run["status"] == "failed" and "did not end" in run["error"]
    assert _bronze_rows(lake, "customers") == 0


def test_rows_landed_must_match_what_the_job_reports(airbyte, lake, tmp_path):
    stand_in, _ = airbyte
    stand_in.misreport_rows = 1
    with pytest.raises(AirbyteJobError, match=r"reports 9 rows synced but 8 rows landed"):
        sync_connection(lake, "erp", load(tmp_path))
    assert _bronze_rows(lake, "customers") == 0


def test_wrong_credentials_are_an_api_error_naming_the_url(airbyte, lake, tmp_path, monkeypatch):
    _, url = airbyte
    monkeypatch.setenv("AIRBYTE_CLIENT_SECRET", "not-the-secret")
    with pytest.raises(Exception, match=rf"Airbyte API {url}: start a sync job"):
        sync_connection(lake, "erp", load(tmp_path))


def test_check_asks_the_api_and_the_landing_folder(airbyte, tmp_path):
    from ingestion.sources import get_source

    stand_in, _ = airbyte
    source = get_source("airbyte_managed")
    source.check(source.parse_config(load(tmp_path).source_config()))
    assert f"GET {BASE_PATH}/jobs" in stand_in.requests


def test_config_is_validated_with_errors_pointing_at_the_key(airbyte, tmp_path, monkeypatch):
    path = connections_file(tmp_path)
    path.write_text(path.read_text().replace(CONNECTION_ID, "not-a-uuid"))
    with pytest.raises(ConnectionsError, match=r"connections\.erp\.config\.connection_id"):
        load_connections(path, os.environ)
    monkeypatch.delenv("AIRBYTE_CLIENT_SECRET")
    with pytest.raises(ConnectionsError, match="AIRBYTE_CLIENT_SECRET is not set"):
        load(tmp_path)


def test_dagster_asset_materializes_the_managed_connection(airbyte, lake, tmp_path, monkeypatch):
    from dagster import AssetKey, materialize

    from orchestration.assets.airbyte_managed import build_airbyte_managed_assets, without_managed
    from orchestration.resources import LakehouseResource

    path = connections_file(tmp_path)
    connections = load_connections(path, os.environ)
    assert without_managed(connections).connections == {}
    (assets,) = build_airbyte_managed_assets(connections)
    resource = LakehouseResource(
        lake_url=f"s3://{BUCKET}",
        landing_url=str(tmp_path / "landing"),
        oltp_dsn=f"sqlite:///{tmp_path / 'shop.db'}",
        duckdb_path=str(tmp_path / "warehouse.duckdb"),
        connections_file=str(path),
        data_dir=str(tmp_path),
    )
    result = materialize([assets], resources={"lakehouse": resource})
    assert result.success
    events = {
        event.asset_key: event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }
    invoices = events[AssetKey(["bronze", "erp", "invoices"])]
    assert invoices["airbyte_job_id"].value == 1
    assert invoices["dagster/row_count"].value == 5
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 2 and all(c.passed for c in checks)
