"""Asset checks beyond the dbt tests.

- freshness: each bronze stream must have been synced within its schedule's interval
  (with some slack), evaluated by Dagster's freshness sensor;
- reconciliation, bronze vs staging: the keys alive in bronze (latest version of each
  key, deletes dropped) equal the rows of the stream's staging model. The source-vs-bronze
  half is checked by the sync step itself (`sync_reconciled`), the volume anomaly too
  (`volume_anomaly`, see orchestration/volume.py).
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import duckdb
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    multi_asset_check,
)
from dagster import (
    build_last_update_freshness_checks as _freshness_checks,
)
from dagster._utils.schedules import cron_string_iterator  # dagster is pinned (uv.lock)
from dagster._utils.warnings import SupersessionWarning

from ingestion.connections import ConnectionsFile
from orchestration.assets.dbt import OPS_SOURCE, TRANSLATOR, WAREHOUSE_POOL
from orchestration.assets.ingestion import bronze_key, stream_schedule
from orchestration.resources import LakehouseResource

FRESHNESS_SLACK = 2.0  # a stream is late when no sync landed for two of its intervals
RECONCILED_WITH_BRONZE = "reconciled_with_bronze"


# -- freshness ---------------------------------------------------------------------------
def cron_interval(cron: str) -> timedelta:
    """The longest gap between two ticks of a cron schedule over a week."""
    ticks = cron_string_iterator(time.time(), cron, "UTC")
    first = next(ticks)
    week = first + timedelta(days=7)
    longest, previous = timedelta(0), first
    for tick in itertools.islice(ticks, 10_000):
        longest = max(longest, tick - previous)
        previous = tick
        if tick > week:
            break
    return longest


def build_freshness_checks(connections: ConnectionsFile) -> list:
    by_interval: dict[timedelta, list[AssetKey]] = {}
    for name, connection in connections.connections.items():
        for stream in connection.streams:
            cron = stream_schedule(connection, stream.name)
            if cron:
                allowed = cron_interval(cron) * FRESHNESS_SLACK
                by_interval.setdefault(allowed, []).append(bronze_key(name, stream.name))
    with warnings.catch_warnings():
        # superseded by FreshnessPolicy, which is not an asset check; the issue asks for checks
        warnings.simplefilter("ignore", SupersessionWarning)
        return [
            check
            for allowed, keys in sorted(by_interval.items())
            for check in _freshness_checks(assets=keys, lower_bound_delta=allowed)
        ]


# -- reconciliation: bronze vs staging --------------------------------------------------
@dataclass(frozen=True)
class StagedStream:
    connection: str
    stream: str
    primary_key: tuple[str, ...]
    staging_key: AssetKey
    relation: str  # schema.alias in the warehouse


def staged_streams(manifest: Mapping[str, Any], connections: ConnectionsFile) -> list[StagedStream]:
    """The staging models that read exactly one bronze stream (1:1, by convention)."""
    found = []
    for node in manifest["nodes"].values():
        parents = node.get("depends_on", {}).get("nodes", [])
        if node["resource_type"] != "model" or "staging" not in node["fqn"] or len(parents) != 1:
            continue
        source = manifest["sources"].get(parents[0])
        if source is None or source["source_name"] == OPS_SOURCE:
            continue
        connection = connections.connections.get(source["source_name"])
        if connection is None or not connection.stream(source["name"]).primary_key:
            continue
        found.append(
            StagedStream(
                source["source_name"],
                source["name"],
                tuple(connection.stream(source["name"]).primary_key),
                TRANSLATOR.get_asset_key(node),
                f'"{node["schema"]}"."{node["alias"]}"',
            )
        )
    return sorted(found, key=lambda s: (s.connection, s.stream))


def live_keys_in_bronze(con: duckdb.DuckDBPyConnection, pattern: str, key: tuple[str, ...]) -> int:
    """What staging keeps: the latest version of each key, unless it is a delete."""
    columns = ", ".join(f'"{c}"' for c in key)
    return con.execute(
        f"""
        select count(*) from (
            select _op, row_number() over (
                partition by {columns}
                order by _position desc nulls last, _extracted_at desc, _sync_id desc
            ) as version
            from read_parquet('{pattern}', union_by_name = true)
            where {" and ".join(f'"{c}" is not null' for c in key)}
        ) where version = 1 and coalesce(_op, '') <> 'd'
        """
    ).fetchone()[0]


def _reconcile(lakehouse: LakehouseResource, streams: list[StagedStream]) -> Iterator:
    settings = lakehouse.settings()
    lake = lakehouse.lake()
    target = settings.dbt_env(lake.uri())["DBT_TARGET"]
    if not target.startswith("duckdb"):
        for s in streams:
            yield AssetCheckResult(
                asset_key=s.staging_key,
                check_name=RECONCILED_WITH_BRONZE,
                passed=True,
                metadata={"note": f"counted on DuckDB only (target {target})"},
            )
        return
    con = duckdb.connect(str(settings.duckdb_path), read_only=True)
    try:
        lake.location.duckdb_access(con)
        for s in streams:
            pattern = lake.uri("bronze", s.connection, s.stream, "*", "*.parquet")
            bronze = live_keys_in_bronze(con, pattern, s.primary_key)
            staging = con.execute(f"select count(*) from {s.relation}").fetchone()[0]
            yield AssetCheckResult(
                asset_key=s.staging_key,
                check_name=RECONCILED_WITH_BRONZE,
                passed=bronze == staging,
                severity=AssetCheckSeverity.ERROR,
                metadata={"bronze_live_keys": bronze, "staging_rows": staging},
            )
    finally:
        con.close()


def build_reconciliation_checks(manifest: Mapping[str, Any], connections: ConnectionsFile) -> list:
    """One check step per connection, so a failing source blocks only its own checks."""
    by_connection: dict[str, list[StagedStream]] = {}
    for staged in staged_streams(manifest, connections):
        by_connection.setdefault(staged.connection, []).append(staged)
    return [_reconciliation_step(name, streams) for name, streams in by_connection.items()]


def _reconciliation_step(connection: str, streams: list[StagedStream]):
    by_key = {s.staging_key: s for s in streams}

    @multi_asset_check(
        name=f"reconcile_{connection}",
        specs=[
            AssetCheckSpec(
                RECONCILED_WITH_BRONZE,
                asset=s.staging_key,
                additional_deps=[bronze_key(s.connection, s.stream)],
                description=(
                    f"keys alive in bronze `{s.connection}.{s.stream}` (latest version, "
                    "deletes dropped) = rows in staging"
                ),
            )
            for s in streams
        ],
        can_subset=True,
        pool=WAREHOUSE_POOL,  # reads the DuckDB file dbt writes
        required_resource_keys={"lakehouse"},
    )
    def reconcile(context) -> Iterator:
        selected = [by_key[k.asset_key] for k in context.selected_asset_check_keys]
        yield from _reconcile(context.resources.lakehouse, selected)

    return reconcile
