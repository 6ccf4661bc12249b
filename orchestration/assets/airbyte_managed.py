"""Bronze assets of managed Airbyte connections (`source: airbyte_managed`).

One multi-asset per connection, with the same keys as every other bronze stream
(`bronze/<connection>/<stream>`), so the dbt sources over those streams sit downstream of
it. Not subsettable: an Airbyte job syncs the whole Airbyte connection. Materializing it
triggers the Airbyte job, waits for it, and takes the files it landed into bronze through
the sync engine (ingestion/sources/airbyte_managed.py); the Airbyte job id and counts are
asset metadata, and the sync's reconciliation is an asset check.

Wiring (orchestration/code_location.py): give the generic ingestion assets the other
connections only, and these the managed ones:

    *build_ingestion_assets(without_managed(connections)),
    *build_airbyte_managed_assets(connections),
"""

from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from ingestion.connections import Connection, ConnectionsFile
from ingestion.records import StreamResult
from ingestion.sync import sync_connection
from orchestration.assets.ingestion import BRONZE_GROUP, SYNC_RECONCILED, bronze_key
from orchestration.resources import LakehouseResource

SOURCE = "airbyte_managed"


def is_managed(connection: Connection) -> bool:
    return connection.source == SOURCE


def without_managed(connections: ConnectionsFile) -> ConnectionsFile:
    """The connections the generic ingestion assets handle (every one not managed)."""
    return connections.model_copy(
        update={
            "connections": {
                name: c for name, c in connections.connections.items() if not is_managed(c)
            }
        }
    )


def _metadata(sync_id: str, stream: StreamResult) -> dict[str, Any]:
    job = stream.state.get("airbyte_job") or {}
    return {
        "sync_id": sync_id,
        "airbyte_job_id": job.get("job_id", -1),
        "airbyte_rows_synced": job.get("rows_synced") if job.get("rows_synced") is not None else -1,
        "airbyte_wait_s": MetadataValue.float(float(job.get("waited_seconds") or 0.0)),
        "landed_files_taken": len(stream.state.get("files", {})),
        "rows_read": stream.rows_read,
        "dagster/row_count": stream.rows_written,
        "rows_dlq": stream.rows_dlq,
        "bytes": MetadataValue.int(stream.bytes_written),
        "files_written": len(stream.files),
    }


def build_managed_connection_assets(name: str, connection: Connection):
    specs = [
        AssetSpec(
            key=bronze_key(name, stream.name),
            group_name=BRONZE_GROUP,
            kinds={"parquet", "airbyte"},
            description=(
                f"Raw `{stream.name}` records landed by the managed Airbyte connection "
                f"`{name}` and committed to bronze."
            ),
            metadata={"schedule": stream.schedule or connection.schedule or "-"},
        )
        for stream in connection.streams
    ]
    check_specs = [
        AssetCheckSpec(
            SYNC_RECONCILED,
            asset=bronze_key(name, stream.name),
            description="rows in the landed files = rows in bronze + rows in the DLQ",
        )
        for stream in connection.streams
    ]

    @multi_asset(
        name=f"airbyte_{name}",
        specs=specs,
        check_specs=check_specs,
        can_subset=False,
        required_resource_keys={"lakehouse"},
        pool=f"sync_{name}",
    )
    def airbyte_assets(context: AssetExecutionContext) -> Iterator:
        lakehouse: LakehouseResource = context.resources.lakehouse
        result = sync_connection(lakehouse.lake(), name, lakehouse.connection(name))
        for stream in result.streams:
            key = bronze_key(name, stream.stream)
            yield MaterializeResult(asset_key=key, metadata=_metadata(result.sync_id, stream))
            yield AssetCheckResult(
                asset_key=key,
                check_name=SYNC_RECONCILED,
                passed=stream.rows_read == stream.rows_written + stream.rows_dlq,
                severity=AssetCheckSeverity.ERROR,
                metadata={
                    "rows_read": stream.rows_read,
                    "bronze_rows": stream.rows_written,
                    "dlq_rows": stream.rows_dlq,
                },
            )

    return airbyte_assets


def build_airbyte_managed_assets(connections: ConnectionsFile) -> list:
    return [
        build_managed_connection_assets(name, c)
        for name, c in connections.connections.items()
        if is_managed(c)
    ]


__all__ = ["build_airbyte_managed_assets", "is_managed", "without_managed"]
