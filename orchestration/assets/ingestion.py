"""One bronze asset per stream of every connection in the connections file.

Each connection is one multi-asset (one sync can land several streams), subsettable
so that a single stream can be refreshed alone.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from ingestion.connections import Connection, ConnectionsFile
from ingestion.sync import sync_connection
from orchestration.resources import LakehouseResource

BRONZE_GROUP = "bronze"


def bronze_key(connection: str, stream: str) -> AssetKey:
    return AssetKey(["bronze", connection, stream])


def build_connection_assets(name: str, connection: Connection):
    specs = [
        AssetSpec(
            key=bronze_key(name, stream.name),
            group_name=BRONZE_GROUP,
            kinds={"parquet", connection.source},
            description=(
                f"Raw `{stream.name}` records from the `{name}` connection ({stream.sync_mode})."
            ),
            metadata={"primary_key": ", ".join(stream.primary_key) or "-"},
            skippable=True,
        )
        for stream in connection.streams
    ]

    @multi_asset(
        name=f"sync_{name}", specs=specs, can_subset=True, required_resource_keys={"lakehouse"}
    )
    def sync_assets(context: AssetExecutionContext):
        lakehouse: LakehouseResource = context.resources.lakehouse
        selected = [key.path[-1] for key in context.selected_asset_keys]
        result = sync_connection(
            lakehouse.lake(), name, lakehouse.connection(name), streams=selected
        )
        for stream in result.streams:
            yield MaterializeResult(
                asset_key=bronze_key(name, stream.stream),
                metadata={
                    "sync_id": result.sync_id,
                    "rows_read": stream.rows_read,
                    "dagster/row_count": stream.rows_written,
                    "rows_dlq": stream.rows_dlq,
                    "bytes": MetadataValue.int(stream.bytes_written),
                    "duration_s": MetadataValue.float(stream.seconds),
                    "source_rows": stream.source_rows if stream.source_rows is not None else -1,
                    "mode": f"{stream.sync_mode}/{stream.destination_sync_mode}",
                    "state": MetadataValue.json(stream.state),
                    "schema_events": MetadataValue.json(stream.schema_events),
                    "files": MetadataValue.json(stream.files),
                },
            )

    return sync_assets


def build_ingestion_assets(connections: ConnectionsFile) -> list:
    return [build_connection_assets(name, c) for name, c in connections.connections.items()]
