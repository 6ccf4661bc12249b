"""The live marts of `make demo-stream`: the dbt models over the streamed events
(`tag:streaming`: staging/events and marts/streaming) built, then gold published to the
serving catalog Superset reads, as the batch pipeline's publish step does after dbt
(serving.duckdb_catalog.publish_gold), then the published figures read back.

Embedded mode only (dbt on DuckDB, the catalog in DATA_DIR/serving): on the postgres
target the Dagster assets do it (dbt_models, serving/gold_catalog)."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from lake import Lake
from orchestration.dbt_targets import dbt_command, keep_parse_state, new_target
from orchestration.settings import Settings
from serving.duckdb_catalog import SCHEMA, catalog_path, open_served, publish_gold

SELECTION = "tag:streaming"
MART = "live_sales_per_minute"


class LiveMartsError(RuntimeError):
    """The refresh failed; the message says which step and dbt's last lines."""


@dataclass(frozen=True)
class LiveFigures:
    """What the live dashboard shows after a refresh."""

    minute: datetime | None  # the last complete minute with sales (UTC)
    sales: int  # sales in that minute
    revenue: dict[str, Decimal] = field(default_factory=dict)  # per currency, that minute
    newest_landing: datetime | None = None  # the newest sale in the mart landed then (UTC)


@dataclass(frozen=True)
class Refresh:
    dbt_seconds: float
    publish_seconds: float
    figures: LiveFigures


def build_live_marts(settings: Settings, lake: Lake) -> None:
    """`dbt build --select tag:streaming` on the lake, in its own target folder."""
    if settings.dbt_on_postgres:
        raise LiveMartsError(
            "the live marts refresh builds on DuckDB only; with DBT_TARGET=postgres run the "
            "Dagster assets (dbt_models, serving/gold_catalog)"
        )
    target = new_target(settings.data_dir, "live_marts")
    run = subprocess.run(
        dbt_command("build", "--select", SELECTION, "--target-path", str(target),
                    "--log-path", str(target)),
        env={**os.environ, **settings.dbt_env(lake.uri())},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if run.returncode != 0:
        tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-15:])
        raise LiveMartsError(f"dbt build --select {SELECTION} failed (log in {target}):\n{tail}")
    keep_parse_state(target)


def read_live_figures(serving_dir: Path) -> LiveFigures:
    """The last complete minute's sales and revenue, as the serving catalog has them."""
    with open_served(catalog_path(serving_dir)) as con:
        mart = f'{SCHEMA}."{MART}"'
        # the newest minute is still filling up: the one before it is the last complete one
        rows = con.execute(
            f"""
            with minutes as (
                select distinct sale_minute_at from {mart} order by sale_minute_at desc limit 2
            )
            select sale_minute_at, currency_code, sum(sales_count), sum(revenue)
            from {mart}
            where sale_minute_at = (select min(sale_minute_at) from minutes)
            group by sale_minute_at, currency_code
            order by currency_code
            """
        ).fetchall()
        (newest,) = con.execute(f"select max(last_landed_at) from {mart}").fetchone() or (None,)
    if not rows:
        return LiveFigures(minute=None, sales=0, newest_landing=newest)
    return LiveFigures(
        minute=rows[0][0],
        sales=sum(int(r[2]) for r in rows),
        revenue={r[1]: r[3] for r in rows},
        newest_landing=newest,
    )


def refresh_live_marts(settings: Settings, lake: Lake) -> Refresh:
    started = time.perf_counter()
    build_live_marts(settings, lake)
    built = time.perf_counter()
    publish_gold(lake, settings.serving_dir)
    published = time.perf_counter()
    return Refresh(built - started, published - built, read_live_figures(settings.serving_dir))


def describe(refresh: Refresh, now: datetime | None = None) -> str:
    """One line for the terminal: the refresh's cost and the dashboard's figures."""
    figures = refresh.figures
    now = now or datetime.now(UTC).replace(tzinfo=None)
    line = f"marts: dbt {refresh.dbt_seconds:.1f} s + publish {refresh.publish_seconds:.1f} s"
    if figures.minute is None:
        return line + "; no sale in the mart yet"
    revenue = ", ".join(f"{currency} {amount:,.2f}" for currency, amount in figures.revenue.items())
    line += f"; last minute {figures.minute:%H:%M}: {figures.sales:,} sales, revenue {revenue}"
    if figures.newest_landing is not None:
        age = (now - figures.newest_landing).total_seconds()
        line += f"; newest sale landed {age:.0f} s before"
    return line
