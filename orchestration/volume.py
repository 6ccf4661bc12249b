"""Volume anomaly: is this sync's row count within the trailing mean ± 3 sigma of earlier ones?

The history is the asset's own materializations in the Dagster instance (their
`dagster/row_count`), so the check needs no store of its own.
"""

from __future__ import annotations

import statistics

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, DagsterInstance

HISTORY = 30  # materializations looked at
MIN_HISTORY = 5  # fewer points say nothing about what is normal
SIGMAS = 3.0


def row_count_history(
    instance: DagsterInstance, key: AssetKey, exclude_run_id: str | None = None
) -> list[int]:
    """Row counts of the asset's latest materializations, newest first."""
    records = instance.fetch_materializations(key, limit=HISTORY + 1).records
    counts = []
    for record in records:
        if record.run_id == exclude_run_id or record.asset_materialization is None:
            continue
        value = record.asset_materialization.metadata.get("dagster/row_count")
        if value is not None:
            counts.append(int(value.value))
    return counts[:HISTORY]


def is_anomalous(rows: int, history: list[int]) -> tuple[bool, float, float]:
    """(outside mean ± 3 sigma, mean, sigma). A flat history (sigma = 0) still allows ±1 row."""
    mean = statistics.fmean(history)
    sigma = statistics.pstdev(history)
    return abs(rows - mean) > max(SIGMAS * sigma, 1.0), mean, sigma


def volume_check(
    instance: DagsterInstance, key: AssetKey, check_name: str, rows: int, run_id: str
) -> AssetCheckResult:
    history = row_count_history(instance, key, exclude_run_id=run_id)
    if len(history) < MIN_HISTORY:
        return AssetCheckResult(
            asset_key=key,
            check_name=check_name,
            passed=True,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "rows": rows,
                "history_points": len(history),
                "note": f"fewer than {MIN_HISTORY} earlier syncs: nothing to compare with yet",
            },
        )
    anomalous, mean, sigma = is_anomalous(rows, history)
    return AssetCheckResult(
        asset_key=key,
        check_name=check_name,
        passed=not anomalous,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "rows": rows,
            "history_points": len(history),
            "mean": round(mean, 1),
            "sigma": round(sigma, 1),
            "lower": round(mean - SIGMAS * sigma, 1),
            "upper": round(mean + SIGMAS * sigma, 1),
        },
    )
