"""Write the YAML bundle (`superset/bundles/`) from `bundle_spec.py`.

    .superset-venv/bin/python superset/generate_bundles.py --catalog data/serving/gold.duckdb

The catalog gives each dataset its columns and types (publish gold first). Every chart gets
form data (what the browser draws from) and a saved query context (what the chart data API
answers with) built from the same spec, so the two never disagree. Identifiers are stable
(uuid5 of the names), so regenerating changes only what the spec changed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import duckdb
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bundle_spec import (
    DASHBOARDS,
    DATASETS,
    REPORTING_CURRENCY,
    SCHEMA,
    Chart,
    Dashboard,
    Dataset,
    label,
)
from served_lake import attach_served_lake

BUNDLE_DIR = Path(__file__).resolve().parent / "bundles"
NAMESPACE = uuid.UUID("6f1f7a52-3c1e-4b8e-9d2a-6c0b5d6e7f80")
DATABASE_NAME = "Lakehouse gold (serving)"
DATABASE_FILE = "databases/lakehouse_serving.yaml"
VERSION = "1.0.0"
TEMPORAL = re.compile(r"^(DATE|TIMESTAMP)", re.IGNORECASE)
NO_FILTER = "No filter"
CURRENCY = {"symbol": REPORTING_CURRENCY, "symbolPosition": "prefix"}
MONEY_FORMAT = ",.2f"  # with CURRENCY: "$ 1,234.56"
PERCENT_FORMAT = ".1%"
# axis and table dates that say which year (a bare "Jan" or "2025" misleads at year ends)
TIME_FORMATS = {"P1M": "%b %Y", "P1W": "%Y-%m-%d", "P1D": "%Y-%m-%d"}
INTRADAY_FORMAT = "%d %b %H:%M"
TABLE_TIME_FORMAT = "%Y-%m-%d %H:%M"
COUNT_FORMAT = ",d"  # a KPI tile's count in full: 9,712, not 9.7k
PERCENT_COLUMN = re.compile(r"(ratio|rate|share)(_|$)")


def stable_uuid(*names: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(names)))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (SQL, query contexts) as readable `|` blocks."""


_BlockDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    ),
)


def dump(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)
    path.write_text(text)


# -- databases and datasets -------------------------------------------------------------------
def database_yaml() -> dict[str, Any]:
    return {
        "database_name": DATABASE_NAME,
        # templated by the bootstrap: the serving catalog (embedded) or PostgreSQL's
        # analytics schema through a read-only role (server mode)
        "sqlalchemy_uri": "${SERVING_DATABASE_URI}",
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_file_upload": False,
        "extra": {"allows_virtual_table_explore": True},
        "uuid": stable_uuid("database", "serving"),
        "version": VERSION,
    }


def dataset_columns(con: duckdb.DuckDBPyConnection, dataset: Dataset) -> list[tuple[str, str]]:
    source = f"({dataset.sql})" if dataset.sql else f"{SCHEMA}.{dataset.name}"
    return [(row[0], row[1]) for row in con.execute(f"describe select * from {source}").fetchall()]


def dataset_yaml(dataset: Dataset, columns: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "table_name": dataset.name,
        "main_dttm_col": dataset.main_dttm,
        "description": dataset.description or None,
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "catalog": None,
        "schema": SCHEMA,
        "sql": dataset.sql,
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": stable_uuid("dataset", dataset.name),
        "metrics": [
            {
                "metric_name": name,
                "verbose_name": label(name, currency=name in dataset.currency_metrics),
                "metric_type": None,
                "expression": expression,
                "description": None,
                "d3format": metric_format(dataset, name),
                "currency": CURRENCY if name in dataset.currency_metrics else None,
                "extra": None,
                "warning_text": None,
            }
            for name, expression in dataset.metrics.items()
        ],
        "columns": [
            {
                "column_name": name,
                "verbose_name": label(name),
                "is_dttm": bool(TEMPORAL.match(kind)),
                "is_active": True,
                "type": kind,
                "advanced_data_type": None,
                "groupby": True,
                "filterable": True,
                "expression": None,
                "description": None,
                "python_date_format": None,
                "extra": None,
            }
            for name, kind in columns
        ],
        "version": VERSION,
        "database_uuid": stable_uuid("database", "serving"),
    }


def metric_format(dataset: Dataset, metric: str) -> str | None:
    if metric in dataset.percent_metrics:
        return PERCENT_FORMAT
    return MONEY_FORMAT if metric in dataset.currency_metrics else None


# -- charts -----------------------------------------------------------------------------------
def number_format(chart: Chart, dataset: Dataset) -> str:
    """The chart's own format, else its metrics': %, money, or a plain number."""
    if chart.number_format:
        return chart.number_format
    formats = {metric_format(dataset, m) for m in chart.metrics}
    if formats == {PERCENT_FORMAT}:
        return PERCENT_FORMAT
    return MONEY_FORMAT if formats == {MONEY_FORMAT} else "SMART_NUMBER"


def time_format(chart: Chart) -> str:
    return TIME_FORMATS.get(chart.grain or "", INTRADAY_FORMAT)


def column_config(chart: Chart) -> dict[str, Any]:
    """Table columns: percentages as %, money in the reporting currency."""
    config: dict[str, Any] = {}
    for column in chart.columns:
        if PERCENT_COLUMN.search(column):
            config[column] = {"d3NumberFormat": PERCENT_FORMAT}
        elif column.endswith("_reporting"):
            config[column] = {"d3NumberFormat": MONEY_FORMAT, "currencyFormat": CURRENCY}
    return config


VIZ_TYPES = {
    "line": "echarts_timeseries_line",
    "bar": "echarts_timeseries_bar",
    "bar_by": "echarts_timeseries_bar",
    "pie": "pie",
    "table": "table",
    "big_number": "big_number_total",
    "histogram": "histogram_v2",
    "funnel": "funnel",
}


def time_filter(dataset: Dataset) -> list[dict[str, Any]]:
    if not dataset.main_dttm:
        return []
    return [
        {
            "clause": "WHERE",
            "subject": dataset.main_dttm,
            "operator": "TEMPORAL_RANGE",
            "comparator": NO_FILTER,
            "expressionType": "SIMPLE",
        }
    ]


def x_axis_column(chart: Chart) -> dict[str, Any]:
    column: dict[str, Any] = {
        "columnType": "BASE_AXIS",
        "sqlExpression": chart.x,
        "label": chart.x,
        "expressionType": "SQL",
    }
    if chart.grain:
        column["timeGrain"] = chart.grain
    return column


def form_data(chart: Chart, dataset: Dataset) -> dict[str, Any]:
    params: dict[str, Any] = {
        "datasource": f"{dataset.name}__table",  # the importer sets the real id
        "viz_type": VIZ_TYPES[chart.kind],
        "adhoc_filters": time_filter(dataset),
        "row_limit": chart.row_limit,
        "color_scheme": "supersetColors",
        "extra_form_data": {},
        "dashboards": [],
    }
    metrics = list(chart.metrics)
    numbers = number_format(chart, dataset)
    if chart.kind in ("line", "bar", "bar_by"):
        params.update(
            {
                "x_axis": chart.x,
                "metrics": metrics,
                "groupby": list(chart.groupby),
                "stack": "Stack" if chart.stacked else None,
                "orientation": "vertical",
                "show_legend": True,
                "legendType": "scroll",
                "legendOrientation": "top",
                "rich_tooltip": True,
                "y_axis_format": numbers,
                "currency_format": CURRENCY if numbers == MONEY_FORMAT else None,
                "truncate_metric": True,
                "only_total": True,
                "sort_series_type": "sum",
                "show_empty_columns": True,
                "x_axis_time_format": time_format(chart),
                "tooltipTimeFormat": time_format(chart),
                "seriesType": "line",
                "markerEnabled": False,
            }
        )
        if chart.grain:
            params["time_grain_sqla"] = chart.grain
        if chart.kind == "bar_by" and chart.order_by:
            params["x_axis_sort"] = chart.order_by[0][0]
            params["x_axis_sort_asc"] = chart.order_by[0][1]
    elif chart.kind in ("pie", "funnel"):
        params.update(
            {
                "groupby": list(chart.groupby),
                "metric": metrics[0],
                "sort_by_metric": True,
                "show_legend": False,  # the labels name every slice
                "show_labels": True,
                "label_type": "key_value" if chart.kind == "funnel" else "key_percent",
                "number_format": numbers,
                "currency_format": CURRENCY if numbers == MONEY_FORMAT else None,
            }
        )
    elif chart.kind == "big_number":
        params.update(
            {
                "metric": metrics[0],
                "header_font_size": 0.4,
                "subheader": chart.description,  # the tile's one line
                "subtitle": chart.description,
                "subheader_font_size": 0.15,
                "subtitle_font_size": 0.15,
                "y_axis_format": COUNT_FORMAT if numbers == "SMART_NUMBER" else numbers,
                "currency_format": CURRENCY if numbers == MONEY_FORMAT else None,
            }
        )
    elif chart.kind == "histogram":
        params.update(
            {
                "column": chart.x,
                "groupby": [],
                "bins": chart.bins,
                "normalize": False,
                "cumulative": False,
                "show_legend": False,
                "x_axis_format": MONEY_FORMAT if chart.x.endswith("_reporting") else numbers,
            }
        )
    elif chart.kind == "table" and metrics:
        params.update(
            {
                "query_mode": "aggregate",
                "groupby": list(chart.groupby),
                "metrics": metrics,
                "timeseries_limit_metric": chart.order_by[0][0] if chart.order_by else None,
                "order_desc": not chart.order_by[0][1] if chart.order_by else True,
                "table_timestamp_format": TABLE_TIME_FORMAT,
                "server_pagination": False,
                "show_cell_bars": False,
                "currency_format": CURRENCY if numbers == MONEY_FORMAT else None,
            }
        )
    elif chart.kind == "table":
        params.update(
            {
                "query_mode": "raw",
                "all_columns": list(chart.columns),
                "order_by_cols": [json.dumps([c, asc]) for c, asc in chart.order_by],
                "table_timestamp_format": TABLE_TIME_FORMAT,
                "server_pagination": False,
                "page_length": 0,  # one scrolling table, no "show N entries" control
                "show_cell_bars": False,
                "column_config": column_config(chart),
            }
        )
    else:
        raise ValueError(f"chart {chart.name!r}: unknown kind {chart.kind!r}")
    return params


def query_object(chart: Chart, params: dict[str, Any]) -> dict[str, Any]:
    """What the browser sends for this form data, as the chart data API takes it."""
    metrics: list[Any] | None = list(chart.metrics)
    orderby: list[list[Any]] = []
    columns: list[Any]
    if chart.kind in ("line", "bar", "bar_by"):
        columns = [x_axis_column(chart), *chart.groupby]
        orderby = [[metrics[0], False]]
    elif chart.kind in ("pie", "funnel"):
        columns = list(chart.groupby)
        orderby = [[metrics[0], False]]
    elif chart.kind == "big_number":
        columns = []
    elif chart.kind == "histogram":
        columns = [chart.x]
    elif chart.kind == "table" and metrics:
        columns = list(chart.groupby)
        orderby = [[c, asc] for c, asc in chart.order_by]
    else:
        columns = list(chart.columns)
        orderby = [[c, asc] for c, asc in chart.order_by]
        metrics = None  # raw rows: no metrics means no GROUP BY
    return {
        "filters": [
            {"col": f["subject"], "op": "TEMPORAL_RANGE", "val": NO_FILTER}
            for f in params["adhoc_filters"]
        ],
        "extras": {"having": "", "where": ""},
        "applied_time_extras": {},
        "columns": columns,
        "metrics": metrics,
        "orderby": orderby,
        "annotation_layers": [],
        "row_limit": params["row_limit"],
        "series_columns": list(chart.groupby) if chart.kind in ("line", "bar") else [],
        "series_limit": 0,
        "order_desc": True,
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
        "time_offsets": [],
        "post_processing": [],
    }


def chart_yaml(chart: Chart, dataset: Dataset) -> dict[str, Any]:
    params = form_data(chart, dataset)
    query_context = {
        "datasource": {"id": 0, "type": "table"},  # the importer sets the real id
        "force": False,
        "queries": [query_object(chart, params)],
        "form_data": params,
        "result_format": "json",
        "result_type": "full",
    }
    return {
        "slice_name": chart.name,
        "description": chart.description or None,
        "certified_by": None,
        "certification_details": None,
        "viz_type": params["viz_type"],
        "params": params,
        "query_context": json.dumps(query_context, indent=2, sort_keys=True) + "\n",
        "cache_timeout": None,
        "uuid": stable_uuid("chart", chart.name),
        "version": VERSION,
        "dataset_uuid": stable_uuid("dataset", dataset.name),
    }


# -- dashboards -------------------------------------------------------------------------------
def grid_rows(dashboard: Dashboard) -> list[list[Chart]]:
    """The charts in rows of 12 columns; a row left part-empty is a mistake in the spec."""
    rows: list[list[Chart]] = [[]]
    for chart in dashboard.charts:
        if sum(c.width for c in rows[-1]) + chart.width > 12:
            rows.append([])
        rows[-1].append(chart)
    for row in rows:
        if sum(c.width for c in row) != 12:
            names = ", ".join(repr(c.name) for c in row)
            raise ValueError(
                f"dashboard {dashboard.title!r}: the row of {names} is "
                f"{sum(c.width for c in row)} columns wide, not 12 (an empty cell)"
            )
    return rows


def position(dashboard: Dashboard, chart_ids: dict[str, int]) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": dashboard.title}},
    }
    layout["GRID_ID"]["children"].append("ROW-0")
    layout["ROW-0"] = {
        "type": "ROW",
        "id": "ROW-0",
        "children": ["MARKDOWN-description"],
        "parents": ["ROOT_ID", "GRID_ID"],
        "meta": {"background": "BACKGROUND_TRANSPARENT"},
    }
    layout["MARKDOWN-description"] = {
        "type": "MARKDOWN",
        "id": "MARKDOWN-description",
        "children": [],
        "parents": ["ROOT_ID", "GRID_ID", "ROW-0"],
        "meta": {"width": 12, "height": 8, "code": dashboard.description},
    }
    for number, row in enumerate(grid_rows(dashboard), start=1):
        row_id = f"ROW-{number}"
        layout["GRID_ID"]["children"].append(row_id)
        layout[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
        for chart in row:
            chart_key = f"CHART-{slug(chart.name)}"
            layout[row_id]["children"].append(chart_key)
            layout[chart_key] = {
                "type": "CHART",
                "id": chart_key,
                "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "meta": {
                    "chartId": chart_ids[chart.name],
                    "uuid": stable_uuid("chart", chart.name),
                    "sliceName": chart.name,
                    "width": chart.width,
                    "height": chart.height,
                },
            }
    return layout


def native_filters(
    dashboard: Dashboard,
    datasets: dict[str, Dataset],
    columns: dict[str, set[str]],
    chart_ids: dict[str, int],
) -> list[dict[str, Any]]:
    filters = []
    for spec in dashboard.filters:
        # a filter applies only to the charts whose dataset can answer it
        if spec.kind == "time":
            applies = [c for c in dashboard.charts if datasets[c.dataset].main_dttm]
        else:
            applies = [c for c in dashboard.charts if spec.column in columns[c.dataset]]
        excluded = [chart_ids[c.name] for c in dashboard.charts if c not in applies]
        common: dict[str, Any] = {
            "id": f"NATIVE_FILTER-{slug(dashboard.slug)}-{slug(spec.name)}",
            "name": spec.name,
            "type": "NATIVE_FILTER",
            "description": "",
            "cascadeParentIds": [],
            "scope": {"rootPath": ["ROOT_ID"], "excluded": excluded},
            "chartsInScope": [chart_ids[c.name] for c in applies],
            "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
        }
        if spec.kind == "time":
            common.update({"filterType": "filter_time", "targets": [{}], "controlValues": {}})
        else:
            common.update(
                {
                    "filterType": "filter_select",
                    "targets": [
                        {
                            "column": {"name": spec.column},
                            "datasetUuid": stable_uuid("dataset", spec.dataset),
                        }
                    ],
                    "controlValues": {
                        "multiSelect": spec.multi,
                        "enableEmptyFilter": False,
                        "defaultToFirstItem": False,
                        "inverseSelection": False,
                        "searchAllOptions": False,
                    },
                }
            )
        filters.append(common)
    return filters


def dashboard_yaml(
    dashboard: Dashboard, datasets: dict[str, Dataset], columns: dict[str, set[str]]
) -> dict[str, Any]:
    # chart ids local to the bundle; the importer maps them to the real ones by uuid
    chart_ids = {chart.name: number for number, chart in enumerate(dashboard.charts, start=1)}
    return {
        "dashboard_title": dashboard.title,
        "description": dashboard.description or None,
        "css": "",
        "slug": dashboard.slug,
        "certified_by": "",
        "certification_details": "",
        "published": True,
        "uuid": stable_uuid("dashboard", dashboard.slug),
        "position": position(dashboard, chart_ids),
        "metadata": {
            "native_filter_configuration": native_filters(dashboard, datasets, columns, chart_ids),
            "color_scheme": "",
            "refresh_frequency": getattr(dashboard, "refresh_frequency", 0),
            # every chart's one-line description shown under its title
            "expanded_slices": {str(i): True for i in chart_ids.values()},
            "label_colors": {},
            "shared_label_colors": [],
            "timed_refresh_immune_slices": [],
            # a click on a bar, slice or row filters the dashboard's other charts
            "cross_filters_enabled": True,
            "default_filters": "{}",
            "chart_configuration": {
                str(i): {
                    "id": i,
                    "crossFilters": {
                        "scope": "global",
                        "chartsInScope": [o for o in chart_ids.values() if o != i],
                    },
                }
                for i in chart_ids.values()
            },
            "global_chart_configuration": {
                "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                "chartsInScope": list(chart_ids.values()),
            },
        },
        "version": VERSION,
    }


def generate(catalog: Path, target: Path = BUNDLE_DIR) -> list[Path]:
    datasets = {d.name: d for d in DATASETS}
    with duckdb.connect(str(catalog), read_only=True) as con:
        attach_served_lake(con)  # the views read the lake (superset/served_lake.py)
        columns = {name: dataset_columns(con, d) for name, d in datasets.items()}
    if target.exists():
        shutil.rmtree(target)
    written: list[Path] = []

    def write(relative: str, document: dict[str, Any]) -> None:
        dump(target / relative, document)
        written.append(target / relative)

    write("metadata.yaml", {"version": VERSION, "type": "assets"})
    write(DATABASE_FILE, database_yaml())
    for name, dataset in datasets.items():
        write(f"datasets/lakehouse_serving/{name}.yaml", dataset_yaml(dataset, columns[name]))
    names = {name: {c for c, _ in cols} for name, cols in columns.items()}
    for dashboard in DASHBOARDS:
        for chart in dashboard.charts:
            write(f"charts/{slug(chart.name)}.yaml", chart_yaml(chart, datasets[chart.dataset]))
        write(f"dashboards/{slug(dashboard.slug)}.yaml", dashboard_yaml(dashboard, datasets, names))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, required=True, help="a published gold.duckdb")
    parser.add_argument("--target", type=Path, default=BUNDLE_DIR)
    args = parser.parse_args(argv)
    written = generate(args.catalog, args.target)
    print(f"wrote {len(written)} files under {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
