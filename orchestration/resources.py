"""Dagster resources: the lakehouse settings (lake, connections) and dbt."""

from __future__ import annotations

import os
from functools import cached_property
from importlib.metadata import version as package_version

from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource, DbtProject
from packaging.version import Version  # the type dagster-dbt compares (its dependency)

from ingestion.connections import Connection, ConnectionsFile, load_connections
from lake import Lake, open_lake
from orchestration.dbt_manifest import manifest_is_current
from orchestration.dbt_targets import dbt_launcher
from orchestration.settings import DBT_PROJECT_DIR, Settings, exported

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class LakehouseResource(ConfigurableResource):
    """Where the lake, the landing zone and the OLTP are; built from Settings (the env)."""

    lake_url: str
    landing_url: str
    oltp_dsn: str
    duckdb_path: str
    connections_file: str
    data_dir: str
    dbt_target: str = ""
    lake_catalog: str = ""  # the DuckLake catalog of silver and gold (docs/lake.md)

    @classmethod
    def from_settings(cls, settings: Settings) -> LakehouseResource:
        return cls(
            lake_url=settings.lake_url,
            landing_url=settings.landing_url,
            oltp_dsn=settings.oltp_dsn,
            duckdb_path=str(settings.duckdb_path),
            connections_file=str(settings.connections_file),
            data_dir=str(settings.data_dir),
            dbt_target=settings.dbt_target or "",
            lake_catalog=settings.lake_catalog,
        )

    def settings(self) -> Settings:
        return Settings.from_env(
            {
                **os.environ,
                "DATA_DIR": self.data_dir,
                "LAKE_URL": self.lake_url,
                "LANDING_URL": self.landing_url,
                "OLTP_DSN": self.oltp_dsn,
                "DUCKDB_PATH": self.duckdb_path,
                "CONNECTIONS_FILE": self.connections_file,
                "DBT_TARGET": self.dbt_target,
                # the resource's own catalog, never one a previous run exported to os.environ
                "LAKE_CATALOG": self.lake_catalog,
            }
        )

    def lake(self) -> Lake:
        return open_lake(self.lake_url)

    def connections(self) -> ConnectionsFile:
        return load_connections(self.connections_file, self.settings().interpolation_env())

    def connection(self, name: str) -> Connection:
        return self.connections().connections[name]


def ensure_dbt_manifest(settings: Settings | None = None) -> None:
    """Parse the dbt project when there is no manifest yet (`make setup` makes one) or when
    a model, macro, test or snapshot changed since: a stale manifest would give Dagster a
    graph that no longer matches what dbt runs."""
    manifest = DBT_PROJECT.manifest_path
    if not manifest_is_current(manifest):
        parse_dbt_project(settings)


def parse_dbt_project(settings: Settings | None = None) -> None:
    """`dbt parse` with the variables the pipeline runs dbt with. dbt reuses a parse state
    only for the same target and profile (DBT_TARGET is also dbt's --target; DUCKDB_PATH is
    part of the profile), so parsed with the defaults of the profile the state would be
    thrown away by the first dbt build ("Unable to do partial parsing"). Parsed so, it is
    the state every new data folder's first build starts from (dagster-dbt copies it)."""
    settings = settings or Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # dbt's working directory
    with exported(settings.dbt_env(Lake.from_url(settings.lake_url).uri())):
        parse = dbt_resource().cli(["parse"], target_path=DBT_PROJECT.manifest_path.parent)
    parse.wait()


class LakehouseDbtResource(DbtCliResource):
    """DbtCliResource without two start-up costs dagster-dbt pays before every invocation."""

    @cached_property
    def _cli_version(self) -> Version:
        # dagster-dbt runs `dbt --version`, a whole dbt start-up; lakehouse-dbt runs the
        # dbt-core package installed beside this interpreter
        return Version(package_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        # the in-process adapter (dbt imported, profile and project loaded: seconds) serves
        # only dagster-dbt's opt-in row-count and column-metadata fetchers, not used here
        return None


def dbt_resource() -> DbtCliResource:
    return LakehouseDbtResource(
        project_dir=DBT_PROJECT,
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=str(dbt_launcher()),
    )
