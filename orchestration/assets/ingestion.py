"""One bronze asset per stream of every connection in the connections file.

Each connection is one multi-asset (one sync can land several streams), subsettable
so that a single stream can be refreshed alone. The sync's own reconciliation (source
count = rows read = bronze + DLQ) and the volume-anomaly check are evaluated in the same
step, from numbers the sync already has: no extra process, no second read of the lake.
"""

from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    DagsterInstance,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from ingestion.connections import Connection, ConnectionsFile
from ingestion.records import StreamResult, SyncResult
from ingestion.sync import sync_connection
from orchestration.resources import LakehouseResource
from orchestration.volume import volume_check

BRONZE_GROUP = "bronze"
FULL_REFRESH_TAG = "lakehouse/full_refresh"  # a run tagged "true" re-reads every source
SYNC_RECONCILED = "sync_reconciled"
VOLUME_ANOMALY = "volume_anomaly"
STATE_METADATA_LIMIT = 2_000  # characters; larger states (file lists) are summarized only


def bronze_key(connection: str, stream: str) -> AssetKey:
    return AssetKey(["bronze", connection, stream])


def stream_schedule(connection: Connection, stream: str) -> str | None:
    return connection.stream(stream).schedule or connection.schedule


def state_position(state: dict[str, Any]) -> str:
    """Where the next sync resumes, in one line: a cursor, an LSN or the files seen."""
    if "cursor" in state:
        field, key = state.get("cursor_field", "cursor"), state.get("cursor_key")
        if isinstance(key, dict) and key:  # the last row read: the cursor, then the key
            values = ", ".join(str(v) for v in [state["cursor"], *key.values()])
            return f"after ({', '.join([field, *key])}) = ({values})"
        return f"{field} >= {state['cursor']}"
    if "lsn" in state:
        return f"lsn {state['lsn']}"
    if "files" in state:
        files = sorted(state["files"])
        return f"{len(files)} files, last {files[-1]}" if files else "no files"
    return "full refresh (no state)" if not state else str(state)[:200]


def _stream_metadata(sync_id: str, stream: StreamResult) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "sync_id": sync_id,
        "rows_read": stream.rows_read,
        "dagster/row_count": stream.rows_written,
        "rows_dlq": stream.rows_dlq,
        "rows_deleted": stream.rows_deleted,
        "bytes": MetadataValue.int(stream.bytes_written),
        "duration_s": MetadataValue.float(stream.seconds),
        "source_rows": stream.source_rows if stream.source_rows is not None else -1,
        "mode": f"{stream.sync_mode}/{stream.destination_sync_mode}",
        "state_position": state_position(stream.state),
        "schema_events": MetadataValue.json(stream.schema_events),
        "files_written": len(stream.files),
    }
    if len(str(stream.state)) <= STATE_METADATA_LIMIT:
        metadata["state"] = MetadataValue.json(stream.state)
    return metadata


def _reconciliation(key: AssetKey, stream: StreamResult) -> AssetCheckResult:
    """The engine refuses to commit a sync that does not reconcile; this check makes the
    figures visible on the asset (and fails loudly should that guard ever be bypassed)."""
    # tombstones for hard deletes are written, not read
    bronze_and_dlq = stream.rows_written - stream.rows_deleted + stream.rows_dlq
    source_ok = stream.source_rows is None or stream.source_rows == stream.rows_read
    return AssetCheckResult(
        asset_key=key,
        check_name=SYNC_RECONCILED,
        passed=stream.rows_read == bronze_and_dlq and source_ok,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "source_rows": stream.source_rows if stream.source_rows is not None else -1,
            "rows_read": stream.rows_read,
            "bronze_rows": stream.rows_written,
            "dlq_rows": stream.rows_dlq,
            "tombstones": stream.rows_deleted,
        },
    )


def build_connection_assets(name: str, connection: Connection):
    specs = [
        AssetSpec(
            key=bronze_key(name, stream.name),
            group_name=BRONZE_GROUP,
            kinds={"parquet", connection.source},
            description=(
                f"Raw `{stream.name}` records from the `{name}` connection ({stream.sync_mode})."
            ),
            metadata={
                "primary_key": ", ".join(stream.primary_key) or "-",
                "schedule": stream_schedule(connection, stream.name) or "-",
            },
            skippable=True,
        )
        for stream in connection.streams
    ]
    check_specs = [
        spec
        for stream in connection.streams
        for spec in (
            AssetCheckSpec(
                SYNC_RECONCILED,
                asset=bronze_key(name, stream.name),
                description="source count = rows read = rows in bronze + rows in the DLQ",
            ),
            AssetCheckSpec(
                VOLUME_ANOMALY,
                asset=bronze_key(name, stream.name),
                description="rows written within the trailing mean ± 3 sigma of earlier syncs",
            ),
        )
    ]

    @multi_asset(
        name=f"sync_{name}",
        specs=specs,
        check_specs=check_specs,
        can_subset=True,
        required_resource_keys={"lakehouse"},
        # one sync per connection at a time: they share the connection's state file
        pool=f"sync_{name}",
    )
    def sync_assets(context: AssetExecutionContext) -> Iterator:
        lakehouse: LakehouseResource = context.resources.lakehouse
        selected = [key.path[-1] for key in context.selected_asset_keys]
        full_refresh = context.run.tags.get(FULL_REFRESH_TAG) == "true"
        result = sync_connection(
            lakehouse.lake(),
            name,
            lakehouse.connection(name),
            streams=selected,
            full_refresh=full_refresh,
        )
        checks = context.selected_asset_check_keys
        for stream in result.streams:
            key = bronze_key(name, stream.stream)
            yield MaterializeResult(
                asset_key=key, metadata=_stream_metadata(result.sync_id, stream)
            )
            if any(c.asset_key == key and c.name == SYNC_RECONCILED for c in checks):
                yield _reconciliation(key, stream)
            if any(c.asset_key == key and c.name == VOLUME_ANOMALY for c in checks):
                yield volume_check(
                    context.instance, key, VOLUME_ANOMALY, stream.rows_written, context.run.run_id
                )

    return sync_assets


def build_ingestion_assets(connections: ConnectionsFile) -> list:
    return [build_connection_assets(name, c) for name, c in connections.connections.items()]


def record_sync(instance: DagsterInstance, result: SyncResult) -> None:
    """A sync run outside Dagster (`lakehouse sync`) recorded on its bronze assets, with the
    same metadata and reconciliation check as a sync the orchestrator ran. A failed sync
    committed nothing, so it records nothing."""
    if result.status != "succeeded":
        return
    for stream in result.streams:
        key = bronze_key(result.connection, stream.stream)
        instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key=key,
                description=f"lakehouse sync {result.connection} ({result.sync_id})",
                metadata=_stream_metadata(result.sync_id, stream),
            )
        )
        check = _reconciliation(key, stream)
        instance.report_runless_asset_event(
            AssetCheckEvaluation(
                asset_key=key,
                check_name=check.check_name,
                passed=check.passed,
                metadata=check.metadata,
                severity=check.severity,
            )
        )
