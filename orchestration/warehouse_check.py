"""Is the warehouse dbt builds in usable? Asked before anything changes a source."""

from __future__ import annotations

from orchestration.settings import Settings


class WarehouseError(RuntimeError):
    """The DuckDB file or the PostgreSQL database dbt builds in cannot be opened."""


def check_warehouse(settings: Settings) -> None:
    """Open the warehouse for writing, as dbt will: a DuckDB file another process holds (the
    UI, Superset, a notebook) or an unreachable PostgreSQL fails here, naming what and why."""
    if settings.dbt_on_postgres:
        import psycopg

        from orchestration.doctor import redact
        from warehouse.postgres_tables import dsn_from_env

        dsn = dsn_from_env()
        try:
            with psycopg.connect(dsn, connect_timeout=10, autocommit=True) as conn:
                conn.execute("select 1")
        except psycopg.Error as exc:
            raise WarehouseError(f"cannot connect to the warehouse {redact(dsn)}: {exc}") from exc
        return
    import duckdb

    path = settings.duckdb_path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        duckdb.connect(str(path)).close()
    except (OSError, duckdb.Error) as exc:
        raise WarehouseError(f"cannot open the warehouse {path} for writing: {exc}") from exc
