"""Managed Airbyte: sync an existing Airbyte connection, then take what it landed into bronze.

For teams that already run Airbyte (Cloud or self-managed). The Airbyte connection's
destination is S3 (Parquet) pointed at a landing prefix of our bucket. A sync here:

1. starts a sync job of that Airbyte connection through the public API (`airbyte-api`:
   `POST /jobs`), authenticated with an application's client credentials (or a token);
2. polls the job (`GET /jobs/{id}`) until it ends, with a timeout; a failed, cancelled or
   incomplete job, or one that outlives the timeout, is a SourceError naming the job, and
   nothing is committed;
3. counts the rows of the Parquet files that appeared while the job ran (their footers) and,
   when every stream is incremental, holds them to the job's own `rowsSynced` before
   reading anything;
4. reads the new files per stream exactly as the `files` source does (the same state: the
   files processed, by name, size and time), so the engine lands them in bronze with its
   metadata columns, DLQ, schema drift, reconciliation and commit, and records the run under
   `_ops/runs` like any other sync. The job (id, status, rows and bytes Airbyte reports) is
   kept in each stream's state, so the run record says which Airbyte job landed what.

Landing first and committing through the engine, rather than pointing Airbyte at
`bronze/<connection>/<stream>/` directly, keeps bronze uniform (the same metadata columns
and partitions as every other source, which the dbt sources read) and keeps the commit
point ours: Airbyte's S3 destination writes files one by one, and a half-finished job would
otherwise be visible downstream.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import pyarrow.fs as pafs
import pyarrow.parquet as pq
from airbyte_protocol.models import AirbyteCatalog, ConfiguredAirbyteCatalog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ingestion.protocol import (
    Checkpoint,
    ReadEvent,
    Source,
    SourceError,
    is_incremental,
)
from ingestion.sources.files import (
    FilesConfig,
    FilesSource,
    FilesStreamOptions,
    _fingerprint,
    list_files,
)
from lake.errors import LakeError
from lake.location import parse_lake_url

log = logging.getLogger(__name__)

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# the job statuses of the Airbyte API (airbyte_api.models.JobStatusEnum)
RUNNING = {"pending", "queued", "running"}
ENDED_BADLY = {"failed", "cancelled", "incomplete"}


class AirbyteJobError(SourceError):
    """The Airbyte job failed, was cancelled, or did not end in time."""


class AirbyteManagedStream(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    pattern: str | None = Field(
        default=None,
        description="glob of the stream's files under landing_url (default <name>/*.parquet; "
        "with a namespace in the destination's path format: <namespace>/<name>/*.parquet)",
    )

    @field_validator("pattern")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("/") or ".." in value.split("/")):
            raise ValueError("a pattern is relative to landing_url, without '..'")
        return value

    def glob(self) -> str:
        return self.pattern or f"{self.name}/*.parquet"


class AirbyteManagedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_url: str = Field(
        description="Airbyte's public API: https://api.airbyte.com/v1 (Cloud) or "
        "http://HOST:8000/api/public/v1 (self-managed)"
    )
    client_id: str | None = Field(default=None, description="an application's client id")
    client_secret: SecretStr | None = Field(default=None, description="its client secret")
    api_token: SecretStr | None = Field(default=None, description="or a bearer token")
    connection_id: str = Field(description="the Airbyte connection to sync (a UUID)")
    landing_url: str = Field(
        description="where the connection's S3 destination writes: s3://bucket/prefix (its "
        "bucket path), read with the lake's LAKE_S3_* credentials"
    )
    format: Literal["parquet"] = "parquet"
    poll_interval_seconds: float = Field(default=10.0, gt=0, le=300)
    timeout_seconds: float = Field(default=6 * 3600, gt=0)
    request_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    reconcile_job_rows: bool = Field(
        default=True,
        description="when every stream is incremental: the rows in the new files must equal "
        "the rows the job reports (rowsSynced)",
    )
    streams: list[AirbyteManagedStream] = Field(default_factory=list)

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("no credentials, query or fragment in api_url")
        return value.strip().rstrip("/")

    @field_validator("connection_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        if not _UUID.match(value):
            raise ValueError(f"{value!r} is not an Airbyte connection id (a UUID)")
        return value.lower()

    @field_validator("landing_url")
    @classmethod
    def _landing(cls, value: str) -> str:
        try:
            parse_lake_url(value, env={})
        except LakeError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @model_validator(mode="after")
    def _credentials(self) -> AirbyteManagedConfig:
        pair = bool(self.client_id) and self.client_secret is not None
        secret = self.client_secret.get_secret_value() if self.client_secret else ""
        if self.client_id and not secret:
            raise ValueError("client_id needs client_secret (from the environment)")
        if pair == (self.api_token is not None and bool(self.api_token.get_secret_value())):
            raise ValueError(
                "give either client_id and client_secret, or api_token (each from the "
                "environment, e.g. ${AIRBYTE_CLIENT_SECRET})"
            )
        return self

    def files_config(self) -> FilesConfig:
        return FilesConfig(
            url=self.landing_url,
            streams=[
                FilesStreamOptions(name=s.name, pattern=s.glob(), format=self.format)
                for s in self.streams
            ],
        )


@dataclass(frozen=True)
class AirbyteJob:
    job_id: int
    status: str
    rows_synced: int | None
    bytes_synced: int | None
    start_time: str | None = None
    duration: str | None = None

    @classmethod
    def of(cls, response: Any) -> AirbyteJob:
        status = getattr(response.status, "value", response.status)
        return cls(
            job_id=int(response.job_id),
            status=str(status),
            rows_synced=response.rows_synced,
            bytes_synced=response.bytes_synced,
            start_time=response.start_time,
            duration=response.duration,
        )


class AirbyteClient:
    """The few calls of Airbyte's public API this source makes, through `airbyte-api`."""

    def __init__(self, config: AirbyteManagedConfig):
        import airbyte_api
        from airbyte_api import models
        from airbyte_api.utils import BackoffStrategy, RetryConfig

        if config.api_token is not None:
            security = models.Security(bearer_auth=config.api_token.get_secret_value())
        else:
            assert config.client_id and config.client_secret
            security = models.Security(
                client_credentials=models.SchemeClientCredentials(
                    client_id=config.client_id,
                    client_secret=config.client_secret.get_secret_value(),
                    # absolute: the SDK would join "/applications/token" onto the host only
                    token_url=f"{config.api_url}/applications/token",
                )
            )
        timeout_ms = int(config.request_timeout_seconds * 1000)
        self.config = config
        self.sdk = airbyte_api.AirbyteAPI(
            security=security,
            server_url=config.api_url,
            timeout_ms=timeout_ms,
            # 429, 5xx and connection errors: exponential backoff, at most 2 minutes per call
            retry_config=RetryConfig("backoff", BackoffStrategy(500, 10_000, 2.0, 120_000), True),
        )

    def _call(self, what: str, fn, **kwargs):
        from airbyte_api import errors

        try:
            return fn(**kwargs)
        except errors.SDKError as exc:
            body = (getattr(exc, "body", "") or "")[:300]
            raise SourceError(
                f"Airbyte API {self.config.api_url}: {what} answered HTTP {exc.status_code}: "
                f"{body or exc.message}"
            ) from exc
        except Exception as exc:  # connection errors, token endpoint errors, timeouts
            raise SourceError(f"Airbyte API {self.config.api_url}: {what}: {exc}") from exc

    def start_sync(self) -> AirbyteJob:
        from airbyte_api import models

        request = models.JobCreateRequest(
            connection_id=self.config.connection_id, job_type=models.JobTypeEnum.SYNC
        )
        response = self._call("start a sync job", self.sdk.jobs.create_job, request=request)
        return AirbyteJob.of(response.job_response)

    def job(self, job_id: int) -> AirbyteJob:
        from airbyte_api import api

        response = self._call(
            f"get job {job_id}", self.sdk.jobs.get_job, request=api.GetJobRequest(job_id=job_id)
        )
        return AirbyteJob.of(response.job_response)

    def recent_jobs(self) -> list[AirbyteJob]:
        from airbyte_api import api

        response = self._call(
            "list jobs",
            self.sdk.jobs.list_jobs,
            request=api.ListJobsRequest(connection_id=self.config.connection_id, limit=1),
        )
        return [AirbyteJob.of(j) for j in response.jobs_response.data]


def wait_for_job(
    client: AirbyteClient, job: AirbyteJob, interval: float, timeout: float
) -> AirbyteJob:
    """Poll until the job ends (tenacity: a fixed interval, stop after `timeout` seconds).
    API errors are retried by the client itself (429, 5xx, connection errors)."""
    from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

    connection = client.config.connection_id

    def poll() -> AirbyteJob:
        current = client.job(job.job_id)
        log.info("airbyte connection %s: job %s is %s", connection, job.job_id, current.status)
        return current

    if job.status in RUNNING:
        job = Retrying(
            stop=stop_after_delay(timeout),
            wait=wait_fixed(interval),
            retry=retry_if_result(lambda j: j.status in RUNNING),
            retry_error_callback=lambda state: state.outcome.result(),  # the last status seen
        )(poll)
    if job.status in RUNNING:
        raise AirbyteJobError(
            f"Airbyte connection {connection}: job {job.job_id} did not end within "
            f"{timeout:g}s (last status {job.status}); it keeps running in Airbyte, and the "
            "next sync takes the files it lands"
        )
    return job


class AirbyteManagedSource(Source[AirbyteManagedConfig]):
    """`source: airbyte_managed`: trigger an Airbyte connection, land its files in bronze."""

    name = "airbyte_managed"
    config_model = AirbyteManagedConfig
    source_defined_cursor = True  # the files processed, as the files source

    def __init__(self) -> None:
        self.files = FilesSource()

    def client(self, config: AirbyteManagedConfig) -> AirbyteClient:
        return AirbyteClient(config)

    def check(self, config: AirbyteManagedConfig) -> None:
        self.client(config).recent_jobs()  # the API answers, the credentials and id are good
        location = parse_lake_url(config.landing_url)
        try:
            location.filesystem().get_file_info(location.root)
        except OSError as exc:
            raise SourceError(
                f"cannot reach the landing folder {config.landing_url}: {exc}"
            ) from exc

    def discover(self, config: AirbyteManagedConfig) -> AirbyteCatalog:
        return self.files.discover(config.files_config())

    def read(
        self,
        config: AirbyteManagedConfig,
        catalog: ConfiguredAirbyteCatalog,
        state: Mapping[str, dict[str, Any]],
    ) -> Iterator[ReadEvent]:
        client = self.client(config)
        files_config = config.files_config()
        reconcile = config.reconcile_job_rows and all(is_incremental(s) for s in catalog.streams)
        before = self._landed(config, files_config, catalog) if reconcile else {}
        started = time.monotonic()
        job = client.start_sync()
        log.info("airbyte connection %s: started job %s", config.connection_id, job.job_id)
        job = wait_for_job(client, job, config.poll_interval_seconds, config.timeout_seconds)
        if job.status != "succeeded":
            raise AirbyteJobError(
                f"Airbyte connection {config.connection_id}: job {job.job_id} ended "
                f"{job.status} (rows synced {job.rows_synced}); nothing was taken into bronze. "
                "See the job's log in Airbyte"
            )
        job_document = {**asdict(job), "waited_seconds": round(time.monotonic() - started, 3)}
        if reconcile:
            self._reconcile(config, files_config, catalog, before, job)
        for stream in catalog.streams:
            for event in self.files._read_stream(
                files_config, stream, state.get(stream.stream.name) or {}
            ):
                if isinstance(event, Checkpoint):
                    event = Checkpoint(event.stream, {**event.state, "airbyte_job": job_document})
                yield event

    @staticmethod
    def _landed(
        config: AirbyteManagedConfig, files_config: FilesConfig, catalog: ConfiguredAirbyteCatalog
    ) -> dict[str, tuple[dict[str, Any], Any]]:
        """Every file of the configured streams: path -> (fingerprint, FileInfo); nothing
        while the destination has not written its first file."""
        location = parse_lake_url(config.landing_url)
        fs = location.filesystem()
        try:
            if fs.get_file_info(location.root).type == pafs.FileType.NotFound:
                return {}
        except OSError as exc:
            raise SourceError(
                f"cannot list the landing folder {config.landing_url}: {exc}"
            ) from exc
        landed = {}
        for stream in catalog.streams:
            pattern = files_config.options(stream.stream.name).pattern
            _, _, files = list_files(config.landing_url, pattern)
            landed.update({info.path: (_fingerprint(info), info) for info in files})
        return landed

    def _reconcile(
        self,
        config: AirbyteManagedConfig,
        files_config: FilesConfig,
        catalog: ConfiguredAirbyteCatalog,
        before: Mapping[str, tuple[dict[str, Any], Any]],
        job: AirbyteJob,
    ) -> None:
        """The rows in the files that appeared while the job ran (their Parquet footers) =
        the rows the job reports. Files left by earlier jobs (a failed one) are read too,
        but are not this job's."""
        if job.rows_synced is None:
            return
        fs = parse_lake_url(config.landing_url).filesystem()
        landed = 0
        for path, (fingerprint, _) in self._landed(config, files_config, catalog).items():
            if before.get(path, (None,))[0] != fingerprint:
                with fs.open_input_file(path) as f:
                    landed += pq.ParquetFile(f).metadata.num_rows
        if landed != job.rows_synced:
            raise AirbyteJobError(
                f"Airbyte connection {config.connection_id}: job {job.job_id} reports "
                f"{job.rows_synced} rows synced but {landed} rows landed under "
                f"{config.landing_url} while it ran; check the destination's bucket path and "
                "the streams' patterns (or set reconcile_job_rows: false)"
            )


if __name__ == "__main__":
    from ingestion.airbyte_cli import run

    sys.exit(run(AirbyteManagedSource()))
