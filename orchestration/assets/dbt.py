"""dbt models as assets: sources map onto the bronze assets, folders onto groups."""

import os
from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.assets.ingestion import bronze_key
from orchestration.resources import DBT_PROJECT, LakehouseResource

LAYER_GROUPS = ("staging", "intermediate", "marts")


class LakehouseTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            if dbt_resource_props["source_name"] == "ops":
                # the pipeline's own records (_ops), written by every sync and dbt run
                return AssetKey(["ops", dbt_resource_props["name"]])
            # a dbt source is a bronze stream: same connection name, same stream name
            return bronze_key(dbt_resource_props["source_name"], dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "snapshot":
            return "snapshots"
        fqn = dbt_resource_props.get("fqn", [])
        for layer in LAYER_GROUPS:
            if layer in fqn:
                return layer
        return super().get_group_name(dbt_resource_props)


def build_dbt_assets():
    @dbt_assets(
        manifest=DBT_PROJECT.manifest_path,
        project=DBT_PROJECT,
        dagster_dbt_translator=LakehouseTranslator(),
    )
    def dbt_models(
        context: AssetExecutionContext, dbt: DbtCliResource, lakehouse: LakehouseResource
    ):
        lake = lakehouse.lake()  # also creates the layer folders a local lake needs
        os.environ.update(lakehouse.settings().dbt_env(lake.uri()))
        invocation = dbt.cli(["build"], context=context, raise_on_error=False)
        yield from invocation.stream()
        run_results = invocation.get_artifact("run_results.json")
        summary = summarize_run_results(run_results)
        lake.write_json(lake.path("_ops", "dbt", f"{summary['invocation_id']}.json"), summary)
        context.log.info("dbt build: %s", summary["counts"])
        if not invocation.is_successful():
            raise RuntimeError(f"dbt build failed: {summary['counts']} (see the dbt logs above)")

    return dbt_models


def summarize_run_results(run_results: Mapping[str, Any]) -> dict[str, Any]:
    """Counts per node type and status, plus the failures, for `_ops` and the demo summary."""
    counts: dict[str, dict[str, int]] = {}
    failures = []
    for result in run_results.get("results", []):
        kind = result["unique_id"].split(".", 1)[0]
        status = result["status"]
        counts.setdefault(kind, {}).setdefault(status, 0)
        counts[kind][status] += 1
        if status in ("error", "fail"):
            failures.append({"node": result["unique_id"], "message": result.get("message")})
    return {
        "invocation_id": run_results.get("metadata", {}).get("invocation_id", "unknown"),
        "generated_at": run_results.get("metadata", {}).get("generated_at"),
        "elapsed_s": run_results.get("elapsed_time"),
        "counts": counts,
        "failures": failures,
    }
