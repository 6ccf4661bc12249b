"""What the demo prints: rows per layer, dbt test results, time per stage."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from lake import Lake
from lake.tables.catalog import TableCatalog, connect, tables_in


@dataclass
class DemoReport:
    stages: list[tuple[str, float]] = field(default_factory=list)
    layers: dict[str, dict[str, int]] = field(default_factory=dict)
    dbt: dict[str, Any] = field(default_factory=dict)
    dlq_rows: int = 0
    changes: str = ""  # the change set applied to the shop before this run, if any
    failed_steps: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # assets downstream of a failed sync
    log_path: Path | None = None  # the full logs of the run (None: they went to the terminal)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, indent=1)

    @classmethod
    def from_json(cls, text: str) -> DemoReport:
        fields = json.loads(text)
        fields["stages"] = [tuple(stage) for stage in fields["stages"]]
        fields["log_path"] = Path(fields["log_path"]) if fields["log_path"] else None
        return cls(**fields)


def count_layer_rows(
    lake: Lake,
    duckdb_path: str,
    postgres_dsn: str | None = None,
    tables: TableCatalog | None = None,
) -> dict[str, dict[str, int]]:
    """Rows per dataset in each layer, read back from where the data lives (not from logs):
    bronze in the lake; staging in the DuckDB file; silver and gold in the lake's DuckLake
    (`tables`); or everything but bronze in the PostgreSQL database dbt builds in
    (`postgres_dsn`, the postgres target)."""
    if postgres_dsn:
        return {"bronze": _bronze_rows(lake), **count_postgres_layers(postgres_dsn)}
    layers: dict[str, dict[str, int]] = {"bronze": _bronze_rows(lake), "staging": {}}
    if tables is not None:
        con = connect(tables, read_only=True)
        try:
            for layer, schema in DUCKLAKE_LAYER_SCHEMAS.items():
                layers[layer] = {
                    name: con.execute(f'select count(*) from lake.{schema}."{name}"').fetchone()[0]
                    for name in tables_in(con, schema)
                }
        finally:
            con.close()
    warehouse = duckdb.connect(duckdb_path, read_only=True)
    lake.location.duckdb_access(warehouse)  # staging's views read bronze in the lake
    views = warehouse.execute(
        "select table_name from information_schema.tables where table_schema = 'staging' order by 1"
    ).fetchall()
    for (view,) in views:
        layers["staging"][view] = warehouse.execute(
            f'select count(*) from staging."{view}"'
        ).fetchone()[0]
    warehouse.close()
    return {layer: layers.get(layer, {}) for layer in ("bronze", "staging", "silver", "gold")}


def _bronze_rows(lake: Lake) -> dict[str, int]:
    con = duckdb.connect()
    lake.location.duckdb_access(con)
    rows: dict[str, int] = {}
    for info in lake.list_files(lake.path("bronze"), suffix=".parquet"):
        relative = info.path[len(lake.path("bronze")) :].strip("/").split("/")
        if relative[0] == "_dlq":
            continue
        rows.setdefault(f"{relative[0]}.{relative[1]}", 0)
    for dataset in rows:
        source, stream = dataset.split(".")
        rows[dataset] = _count(con, lake.uri("bronze", source, stream, "*", "*.parquet"))
    con.close()
    return rows


# where silver and gold live in the DuckLake on DuckDB (database `lake`, dbt's schemas)
DUCKLAKE_LAYER_SCHEMAS = {"silver": "intermediate", "gold": "marts"}
# where the dbt layers live on the postgres target (dbt_project.yml's +schema)
POSTGRES_LAYER_SCHEMAS = {"staging": "staging", "silver": "intermediate", "gold": "marts"}


def count_postgres_layers(dsn: str) -> dict[str, dict[str, int]]:
    """Rows per table of dbt's staging, intermediate (silver) and marts (gold) schemas."""
    import psycopg

    layers: dict[str, dict[str, int]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for layer, schema in POSTGRES_LAYER_SCHEMAS.items():
            tables = conn.execute(
                "select table_name from information_schema.tables "
                "where table_schema = %s and table_type = 'BASE TABLE' order by 1",
                (schema,),
            ).fetchall()
            layers[layer] = {
                name: conn.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
                for (name,) in tables
                if not name.endswith(("__dbt_tmp", "__dbt_backup"))  # an interrupted build's
            }
    return layers


def _count(con: duckdb.DuckDBPyConnection, pattern: str) -> int:
    return con.execute(f"select count(*) from read_parquet('{pattern}')").fetchone()[0]


def count_dlq_rows(lake: Lake) -> int:
    files = lake.list_files(lake.path("bronze", "_dlq"), suffix=".parquet")
    if not files:
        return 0
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(lake.fs.open_input_file(f.path)).metadata.num_rows for f in files)


def print_report(report: DemoReport, console: Console | None = None) -> None:
    console = console or Console()
    rows = Table(title="Rows per layer", show_lines=False)
    rows.add_column("layer")
    rows.add_column("datasets", justify="right")
    rows.add_column("rows", justify="right")
    rows.add_column("largest")
    for layer, datasets in report.layers.items():
        largest = max(datasets.items(), key=lambda kv: kv[1]) if datasets else ("-", 0)
        rows.add_row(
            layer,
            str(len(datasets)),
            f"{sum(datasets.values()):,}",
            f"{largest[0]} ({largest[1]:,})",
        )
    rows.add_row("dead-letter", "", f"{report.dlq_rows:,}", "records kept with their reason")
    console.print(rows)

    counts = report.dbt.get("counts", {})
    tests = counts.get("test", {})
    models = counts.get("model", {})
    console.print(
        f"dbt build: models {_fmt(models)}; tests {_fmt(tests)}"
        + (f"; failures: {len(report.dbt['failures'])}" if report.dbt.get("failures") else "")
    )

    if report.changes:
        console.print(f"change set applied before the incremental syncs: {report.changes}")
    if report.failed_steps:
        console.print(f"[red]failed steps: {', '.join(report.failed_steps)}[/red]")
    if report.left_out:
        console.print(
            f"not run, downstream of a failed sync: {len(report.left_out)} assets "
            f"({', '.join(report.left_out[:5])}{', ...' if len(report.left_out) > 5 else ''})"
        )
    if report.log_path and (report.failed_steps or report.dbt.get("failures")):
        console.print(f"the errors in full: {report.log_path}")

    stages = Table(title="Elapsed per stage")
    stages.add_column("stage")
    stages.add_column("seconds", justify="right")
    for name, seconds in report.stages:
        stages.add_row(name, f"{seconds:.1f}")
    stages.add_row("total", f"{sum(s for _, s in report.stages):.1f}")
    console.print(stages)


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
