"""Where gold is served, from the environment: the embedded DuckDB catalog, PostgreSQL's
serving schema, or both.

- The embedded catalog (serving.duckdb_catalog) serves the lake's gold DuckLake tables pinned to the
  published snapshot, so it is published whenever dbt builds on DuckDB, and skipped on the
  postgres target (no DuckLake gold there).
- PostgreSQL's serving schema (serving.postgres_schema) is published when SERVING_PG_DSN is set:
  from the gold DuckLake tables on DuckDB, from dbt's marts schema on the postgres target.
  The latter copies table to table inside one database, so SERVING_PG_DSN must name the
  database dbt builds in (DBT_PG_HOST, DBT_PG_PORT, DBT_PG_DATABASE).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from orchestration.settings import Settings
from warehouse.postgres_tables import dsn_from_env


class ServingConfigError(ValueError):
    """The serving configuration cannot work; the message names the variables to fix."""


@dataclass(frozen=True)
class ServingLayers:
    duckdb_catalog: bool  # publish the embedded catalog over the lake's gold tables
    postgres_dsn: str | None  # publish to PostgreSQL's serving schema as this role
    postgres_source_schema: str | None  # copy from this schema; None: from the gold Parquet

    @property
    def postgres_source(self) -> str:
        if self.postgres_source_schema:
            return f"schema {self.postgres_source_schema}"
        return "gold Parquet in the lake"


def database_of(dsn: str) -> tuple[str, int, str]:
    """(host, port, database) of a postgresql:// URL."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise ServingConfigError(
            f"expected postgresql://user:password@host:port/database, got {parts.scheme}://..."
        )
    return parts.hostname.lower(), parts.port or 5432, parts.path.lstrip("/")


def serving_layers(
    settings: Settings, env: Mapping[str, str], marts_schema: str = "marts"
) -> ServingLayers:
    """What `serving/gold_catalog` publishes to; raises when the combination cannot work."""
    publisher = (env.get("SERVING_PG_DSN") or "").strip() or None
    if not settings.dbt_on_postgres:
        return ServingLayers(True, publisher, None)
    if publisher is None:
        raise ServingConfigError(
            "DBT_TARGET=postgres builds the marts in PostgreSQL and leaves no gold Parquet for "
            "the embedded DuckDB catalog: set SERVING_PG_DSN (postgresql://user:password@host:"
            "port/database, the database dbt builds in) to publish them to the serving schema"
        )
    serving_db = database_of(publisher)
    dbt_db = database_of(dsn_from_env(env))
    if serving_db != dbt_db:
        raise ServingConfigError(
            "DBT_TARGET=postgres: SERVING_PG_DSN must point at the database dbt builds in "
            "(DBT_PG_HOST, DBT_PG_PORT, DBT_PG_DATABASE), because the serving schema is copied "
            f"from its {marts_schema} schema; SERVING_PG_DSN is {_show(serving_db)}, "
            f"DBT_PG_* is {_show(dbt_db)}"
        )
    return ServingLayers(False, publisher, marts_schema)


def _show(database: tuple[str, int, str]) -> str:
    host, port, name = database
    return f"{host}:{port}/{name}"
