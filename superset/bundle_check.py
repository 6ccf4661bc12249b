"""Check a YAML bundle against the serving catalog before anything is imported.

Superset would import a chart over a column that does not exist and show the error only
when someone opens the dashboard. Here every dataset must exist in the catalog with the
columns it declares, every metric expression must run, and every column a chart or a
native filter uses must be in its dataset; each problem names the dashboard, the chart and
the column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml

_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')


class BundleError(Exception):
    """The bundle does not match the serving catalog; `problems` lists every mismatch."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Bundle:
    files: dict[str, str]  # path in the bundle -> YAML text, what the importer takes
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> Bundle:
        files = {
            str(path.relative_to(root)): path.read_text() for path in sorted(root.rglob("*.yaml"))
        }
        bundle = cls(files)
        bundle.configs = {name: yaml.safe_load(text) for name, text in files.items()}
        return bundle

    def of_kind(self, folder: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, config in self.configs.items():
            if name.startswith(f"{folder}/"):
                yield name, config


@dataclass
class DatasetInfo:
    label: str  # schema.table, or the name of a virtual dataset
    columns: set[str]
    metrics: set[str]


def _source_sql(config: dict[str, Any]) -> str:
    if config.get("sql"):
        return f"({config['sql']})"
    return f'{config["schema"]}."{config["table_name"]}"'


def _catalog_columns(
    con: duckdb.DuckDBPyConnection, config: dict[str, Any]
) -> tuple[set[str] | None, str]:
    """The columns the catalog gives the dataset, or None and why."""
    try:
        rows = con.execute(f"describe select * from {_source_sql(config)}").fetchall()
    except duckdb.Error as exc:
        return None, str(exc).splitlines()[0]
    return {row[0] for row in rows}, ""


def _chart_columns(params: dict[str, Any], query_context: dict[str, Any]) -> set[str]:
    """Every physical column a chart's form data or saved query names."""
    used: set[str] = set()

    def column(value: Any) -> None:
        if isinstance(value, str) and value:
            used.add(value)
        elif isinstance(value, dict):
            if value.get("expressionType") == "SQL" and value.get("columnType") == "BASE_AXIS":
                used.add(value.get("sqlExpression", ""))
            elif "column_name" in value:
                used.add(value["column_name"])

    for key in ("x_axis", "granularity_sqla", "column", "entity", "series"):
        column(params.get(key))
    for key in ("groupby", "columns", "all_columns"):
        for value in params.get(key) or []:
            column(value)
    for value in params.get("order_by_cols") or []:
        column(json.loads(value)[0] if isinstance(value, str) else value[0])
    for adhoc in params.get("adhoc_filters") or []:
        if adhoc.get("expressionType") == "SIMPLE":
            column(adhoc.get("subject"))
    for metric in [*(params.get("metrics") or []), params.get("metric")]:
        if isinstance(metric, dict) and metric.get("expressionType") == "SIMPLE":
            column(metric.get("column"))
    for query in query_context.get("queries") or []:
        for value in query.get("columns") or []:
            column(value)
        for item in query.get("filters") or []:
            column(item.get("col"))
    return used


def _chart_metrics(params: dict[str, Any], query_context: dict[str, Any]) -> set[str]:
    """Saved metrics (by name) a chart uses."""
    names = [*(params.get("metrics") or []), params.get("metric")]
    names += [params.get("timeseries_limit_metric"), params.get("x_axis_sort")]
    for query in query_context.get("queries") or []:
        names += query.get("metrics") or []
    return {name for name in names if isinstance(name, str) and name}


def check_bundle(bundle: Bundle, catalog: Path) -> None:
    """Raise BundleError naming the dashboard, the chart and the column of every mismatch."""
    problems: list[str] = []
    datasets: dict[str, DatasetInfo] = {}
    dataset_problems: dict[str, list[str]] = {}
    with duckdb.connect(str(catalog), read_only=True) as con:
        for _, config in bundle.of_kind("datasets"):
            label = f"{config.get('schema')}.{config['table_name']}"
            found, why = _catalog_columns(con, config)
            issues: list[str] = []
            declared = {c["column_name"] for c in config.get("columns") or []}
            if found is None:
                kind = "virtual dataset" if config.get("sql") else "dataset"
                issues.append(f"{kind} {label} is not in the serving catalog {catalog} ({why})")
                found = set()
            else:
                for missing in sorted(declared - found):
                    issues.append(f"column {missing!r} is not in {label} of the serving catalog")
                for metric in config.get("metrics") or []:
                    try:
                        con.execute(
                            f"select {metric['expression']} from {_source_sql(config)} where false"
                        ).fetchall()
                    except duckdb.Error as exc:
                        text = str(exc).splitlines()[0]
                        hit = _MISSING_COLUMN.search(str(exc))
                        what = f"column {hit.group(1)!r}" if hit else text
                        issues.append(
                            f"metric {metric['metric_name']!r} of {label} uses {what} ({text})"
                        )
            datasets[config["uuid"]] = DatasetInfo(
                label,
                found & declared if declared else found,
                {m["metric_name"] for m in config.get("metrics") or []},
            )
            dataset_problems[config["uuid"]] = issues

    charts = {config["uuid"]: config for _, config in bundle.of_kind("charts")}
    for name, dashboard in bundle.of_kind("dashboards"):
        title = dashboard.get("dashboard_title", name)
        for item in (dashboard.get("position") or {}).values():
            if not isinstance(item, dict) or item.get("type") != "CHART":
                continue
            chart_uuid = item.get("meta", {}).get("uuid")
            chart = charts.get(chart_uuid)
            if chart is None:
                problems.append(f"dashboard {title!r}: chart {chart_uuid} is not in the bundle")
                continue
            where = f"dashboard {title!r}, chart {chart['slice_name']!r}"
            dataset = datasets.get(chart["dataset_uuid"])
            if dataset is None:
                problems.append(f"{where}: dataset {chart['dataset_uuid']} is not in the bundle")
                continue
            problems += [f"{where}: {issue}" for issue in dataset_problems[chart["dataset_uuid"]]]
            query_context = json.loads(chart.get("query_context") or "{}")
            if not query_context.get("queries"):
                problems.append(f"{where}: no saved query context (the chart data API needs one)")
            params = chart.get("params") or {}
            for column in sorted(_chart_columns(params, query_context) - dataset.columns):
                if column not in dataset.metrics:
                    problems.append(f"{where}: column {column!r} is not in {dataset.label}")
            for metric in sorted(_chart_metrics(params, query_context) - dataset.metrics):
                if metric not in dataset.columns:
                    problems.append(f"{where}: metric {metric!r} is not in {dataset.label}")
        for native in (dashboard.get("metadata") or {}).get("native_filter_configuration") or []:
            for target in native.get("targets") or []:
                column = (target.get("column") or {}).get("name")
                dataset = datasets.get(target.get("datasetUuid", ""))
                if column and dataset is None:
                    problems.append(
                        f"dashboard {title!r}, native filter {native['name']!r}: "
                        f"dataset {target.get('datasetUuid')} is not in the bundle"
                    )
                elif column and dataset and column not in dataset.columns:
                    problems.append(
                        f"dashboard {title!r}, native filter {native['name']!r}: "
                        f"column {column!r} is not in {dataset.label}"
                    )
    if problems:
        raise BundleError(list(dict.fromkeys(problems)))
