"""A run of syncs and models together (the nightly schedule's job, as the daemon launches
it) whose sync fails: Dagster skips the one dbt step, then the sensor
`resume_after_failed_sync` asks for the rest, which builds every model that does not read
the failed source and none that does."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster import (
    DagsterEventType,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
)

from datagen.generate import GenerationRequest, generate
from orchestration.assets.dbt import DBT_ASSETS
from orchestration.code_location import build_definitions
from orchestration.crm_service import crm_api_running
from orchestration.instance import persistent_instance
from orchestration.resume import RESUME_JOB, RESUMES_TAG, resume_after_failed_sync
from orchestration.settings import REPO_ROOT, Settings

SCALE = "0.002"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
FX_READERS = ("staging/stg_fx__rates", "marts/fct_orders", "serving/gold_catalog")
OTHERS = (
    "staging/stg_shop__orders",
    "staging/stg_crm__contacts",
    "marts/dim_customers",
    "marts/funnel_conversion",
    "marts/pipeline_health",
)


def _settings_without_fx(tmp_path: Path) -> Settings:
    connections = yaml.safe_load((REPO_ROOT / "connections.yml").read_text())
    connections["connections"]["fx"]["config"]["url"] = str(tmp_path / "no-such-landing")
    broken = tmp_path / "connections.yml"
    broken.write_text(yaml.safe_dump(connections))
    return Settings.from_env(
        {
            "DATA_DIR": str(tmp_path / "data"),
            "DATAGEN_SCALE": SCALE,
            "DATAGEN_SEED": "7",
            "CONNECTIONS_FILE": str(broken),
        }
    )


def _done(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def _sensor(defs, instance, run_id: str):
    [failure] = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    context = build_run_status_sensor_context(
        sensor_name=RESUME_JOB,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run_id),
        dagster_event=failure.dagster_event,
        repository_def=defs.get_repository_def(),
    ).for_run_failure()
    return resume_after_failed_sync(context)


@pytest.mark.integration
def test_a_scheduled_run_whose_sync_failed_goes_on_with_the_other_sources_models(tmp_path):
    settings = _settings_without_fx(tmp_path)
    generate(
        GenerationRequest(settings.scale, settings.seed, settings.oltp_dsn, settings.landing_url)
    )
    defs = build_definitions(settings)
    instance = persistent_instance(settings)
    with crm_api_running(settings.scale, settings.seed):
        # the real job of the nightly schedule: every sync, model, check and dashboard
        first = defs.resolve_job_def("nightly_full_refresh").execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET
        )
        assert not first.success
        assert {e.step_key for e in first.get_step_failure_events()} == {"sync_fx"}
        # Dagster skipped the one dbt step: no model at all
        assert "bronze/shop/orders" in _done(first)
        assert not {a for a in _done(first) if a.startswith(("staging/", "marts/"))}

        request = _sensor(defs, instance, first.run_id)
        assert isinstance(request, RunRequest), request
        assert request.run_key == first.run_id
        assert request.tags == {RESUMES_TAG: first.run_id, "lakehouse/full_refresh": "true"}
        # as the daemon starts it: the requested subset of the sensor's job
        job = defs.resolve_job_def(RESUME_JOB).get_subset(
            asset_selection=set(request.asset_selection),
            asset_check_selection=set(request.asset_check_keys),
        )
        second = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET, tags=request.tags
        )

    assert second.success
    done = _done(second)
    assert not {a for a in done if a.startswith("bronze/")}  # the syncs are not run again
    for reader in FX_READERS:
        assert reader not in done, reader
    for model in OTHERS:
        assert model in done, model
    dbt = next(a for a in defs.assets if a.node_def.name == DBT_ASSETS)
    models = {k.to_user_string() for k in dbt.keys}
    assert len(models & done) > 30
    # dbt's tests of the synced streams ran too, none of FX's
    checked = {e.asset_key.to_user_string() for e in second.get_asset_check_evaluations()}
    assert "bronze/shop/orders" in checked
    assert not {c for c in checked if c.startswith("bronze/fx/")}

    # the resuming run is never resumed itself (its failure would not loop)
    again = _sensor_for(defs, instance, second.run_id)
    assert isinstance(again, SkipReason)


def _sensor_for(defs, instance, run_id: str):
    """The sensor's answer for a run that did not fail (a resume): it skips it."""
    from orchestration.resume import resume_request

    return resume_request(
        defs.get_repository_def().asset_graph, instance, instance.get_run_by_id(run_id)
    )
