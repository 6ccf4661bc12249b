"""`lakehouse doctor`: what is configured, and whether each service answers.

Every setting comes from the environment (orchestration.settings); the doctor prints the
values in effect (passwords redacted) and probes what they point at, each with a short
timeout: the lake (list, write and delete a probe object), the OLTP database (`select 1`,
and `wal_level` on PostgreSQL), the dbt target when it is PostgreSQL, the serving layer
(the read-only DuckDB catalog, or the PostgreSQL serving database), the Dagster instance
storage (PostgreSQL when `$DAGSTER_HOME/dagster.yaml` says so), the Dagster webserver and
Superset when DAGSTER_URL / SUPERSET_URL point at them.

Exit code 1 when a required service does not answer. Something not created yet on the
embedded default (a fresh DATA_DIR: no lake folder, no SQLite file, nothing published) is
a warning, not a failure: `make demo` creates it.
"""

from __future__ import annotations

import os
import sqlite3
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import yaml
from rich.console import Console
from rich.table import Table

from common.redaction import error_line, redact
from orchestration.settings import Settings

TIMEOUT_SECONDS = 5.0
OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "-"
_STYLE = {OK: "green", WARN: "yellow", FAIL: "bold red", SKIP: "dim"}


@dataclass
class Check:
    """One line of the report: a component, the setting in effect, and what the probe found."""

    component: str
    setting: str
    status: str = SKIP
    detail: str = ""
    required: bool = True

    @property
    def failed(self) -> bool:
        return self.required and self.status == FAIL


class Unavailable(Exception):
    """A probe found the service down or unusable; the message says what to do."""


class NotYet(Exception):
    """Not created yet (a warning on the embedded default)."""


# -- probes -------------------------------------------------------------------------------
def probe_lake(lake_url: str, env: Mapping[str, str]) -> str:
    import pyarrow as pa
    import pyarrow.fs as pafs

    from lake import Lake, LakeError, parse_lake_url

    try:
        location = parse_lake_url(lake_url, env)
        lake = Lake(location=location, fs=location.filesystem())
    except LakeError as exc:
        raise Unavailable(str(exc)) from exc
    try:
        if location.is_s3:
            if lake.fs.get_file_info(location.bucket).type == pafs.FileType.NotFound:
                raise Unavailable(
                    f"bucket {location.bucket} does not exist (server mode: minio-init "
                    "creates it; on AWS create it first)"
                )
        elif not Path(location.root).is_dir():
            raise NotYet(f"{location.root} does not exist yet; the first sync creates it")
        listed = len(lake.fs.get_file_info(pafs.FileSelector(lake.path(), recursive=False)))
        probe = lake.path("_ops", f".doctor-{uuid.uuid4().hex}")
        lake.write_bytes(probe, b"ok")
        lake.fs.delete_file(probe)
    except (OSError, pa.ArrowException) as exc:
        raise Unavailable(f"cannot list or write {lake_url}: {error_line(exc, 240)}") from exc
    return f"listed ({listed} entries at the root), wrote and deleted a probe object"


def probe_sqlite(dsn: str) -> str:
    path = Path(dsn.removeprefix("sqlite:///").removeprefix("sqlite://"))
    if not path.exists():
        raise NotYet(f"{path} does not exist yet (`lakehouse generate` or `make demo`)")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=TIMEOUT_SECONDS)
        try:
            conn.execute("select 1").fetchone()
            (tables,) = conn.execute(
                "select count(*) from sqlite_master where type = 'table'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise Unavailable(f"{path}: {error_line(exc, 240)}") from exc
    return f"select 1 ok; {tables} tables"


def probe_postgres(dsn: str, need_logical: bool = False) -> str:
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=int(TIMEOUT_SECONDS), autocommit=True) as conn:
            conn.execute("select 1").fetchone()
            (version,) = conn.execute("show server_version").fetchone()
            (wal_level,) = conn.execute("show wal_level").fetchone()
    except psycopg.Error as exc:
        raise Unavailable(f"cannot connect to {redact(dsn)}: {error_line(exc, 240)}") from exc
    if need_logical and wal_level != "logical":
        raise Unavailable(
            f"wal_level is {wal_level}: log-based CDC needs wal_level=logical "
            "(postgres -c wal_level=logical, then restart)"
        )
    return f"select 1 ok; PostgreSQL {version.split()[0]}, wal_level={wal_level}"


def probe_duckdb_catalog(path: Path) -> str:
    import duckdb

    if not path.exists():
        raise NotYet(f"{path} not published yet (the pipeline publishes gold after dbt)")
    try:
        with duckdb.connect(str(path), read_only=True) as conn:
            (views,) = conn.execute(
                "select count(*) from information_schema.tables where table_schema = 'analytics'"
            ).fetchone()
    except duckdb.Error as exc:
        raise Unavailable(f"{path}: {error_line(exc, 240)}") from exc
    return f"opened read-only; {views} relations in analytics"


def probe_lake_tables(settings: Settings, env: Mapping[str, str]) -> str:
    """The lake's DuckLake catalog (silver and gold), attached read-only: never created or
    migrated here."""
    from lake import LakeError, parse_lake_url
    from lake.tables.catalog import CatalogError, connect, current_snapshot

    try:
        tables = settings.table_catalog(parse_lake_url(settings.lake_url, env).uri())
        if tables.is_sqlite and not tables.sqlite_path.exists():
            raise NotYet(f"{tables.sqlite_path} does not exist yet; the first dbt build creates it")
        with connect(tables, read_only=True) as con:
            snapshot = current_snapshot(con)
            (count,) = con.execute(
                "select count(*) from duckdb_tables() where database_name = 'lake'"
            ).fetchone()
    except CatalogError as exc:
        raise Unavailable(str(exc)) from exc
    except LakeError as exc:
        raise Unavailable(error_line(exc, 240)) from exc
    return f"attached read-only; snapshot {snapshot}, {count} tables"


def probe_http(url: str, path: str) -> str:
    target = url.rstrip("/") + path
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Unavailable(f"{url!r} is not an http(s) URL")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(target, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise Unavailable(f"GET {target} answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unavailable(f"GET {target}: {error_line(reason, 240)}") from exc
    return f"GET {path} -> HTTP {status} in {time.perf_counter() - started:.2f}s"


def sqlalchemy_to_libpq(uri: str) -> str:
    """postgresql+psycopg2://... (what Superset takes) -> postgresql://... (what libpq takes)."""
    scheme, _, rest = uri.partition("://")
    return f"postgresql://{rest}" if scheme.split("+")[0] in ("postgresql", "postgres") else uri


def dbt_postgres_dsn(env: Mapping[str, str]) -> str | None:
    host = env.get("DBT_PG_HOST")
    if not host:
        return None
    user = quote(env.get("DBT_PG_USER") or "", safe="")
    password = env.get("DBT_PG_PASSWORD") or ""
    auth = f"{user}:{quote(password, safe='')}" if password else user
    port = env.get("DBT_PG_PORT") or "5432"
    database = quote(env.get("DBT_PG_DATABASE") or "postgres", safe="")
    return f"postgresql://{auth}@{host}:{port}/{database}"


def _config_value(value: object, env: Mapping[str, str]) -> str:
    """A dagster.yaml value: literal, or `{env: NAME}` read from the environment."""
    if isinstance(value, dict) and set(value) == {"env"}:
        name = str(value["env"])
        if not env.get(name):
            raise Unavailable(f"{name} is not set (the Dagster instance reads it)")
        return env[name]
    return "" if value is None else str(value)


def dagster_storage_dsn(home: Path, env: Mapping[str, str]) -> str | None:
    """The PostgreSQL DSN of the instance storage `$DAGSTER_HOME/dagster.yaml` configures,
    or None for Dagster's default (SQLite files under DAGSTER_HOME)."""
    config_file = home / "dagster.yaml"
    if not config_file.is_file():
        return None
    config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    postgres = (config.get("storage") or {}).get("postgres")
    if not postgres:
        return None
    if "postgres_url" in postgres:
        return _config_value(postgres["postgres_url"], env)
    db = postgres.get("postgres_db") or {}
    user = quote(_config_value(db.get("username"), env), safe="")
    password = quote(_config_value(db.get("password"), env), safe="")
    host = _config_value(db.get("hostname"), env)
    port = _config_value(db.get("port"), env) or "5432"
    name = quote(_config_value(db.get("db_name"), env), safe="")
    return f"postgresql://{user}:{password}@{host}:{port}/{name}"


# -- the report ---------------------------------------------------------------------------
def _run(check: Check, probe: Callable[[], str]) -> Check:
    try:
        check.detail, check.status = probe(), OK
    except NotYet as exc:
        check.detail, check.status = str(exc), WARN
    except Unavailable as exc:
        check.detail, check.status = str(exc), FAIL
    except Exception as exc:  # a probe must never crash the report
        check.detail, check.status = f"{type(exc).__name__}: {error_line(exc, 240)}", FAIL
    return check


def run_checks(settings: Settings, env: Mapping[str, str] | None = None) -> list[Check]:
    env = os.environ if env is None else env
    checks: list[Check] = []

    # lake
    lake_setting = settings.lake_url
    if settings.lake_is_s3:
        lake_setting += f" (endpoint {env.get('LAKE_S3_ENDPOINT') or 'AWS'})"
    checks.append(_run(Check("lake", lake_setting), lambda: probe_lake(settings.lake_url, env)))

    # OLTP source
    oltp = settings.oltp_dsn
    if oltp.startswith("sqlite:"):
        checks.append(_run(Check("OLTP source", oltp), lambda: probe_sqlite(oltp)))
    elif oltp.startswith(("postgresql:", "postgres:")):
        cdc = settings.interpolation_env().get("SHOP_SOURCE") == "postgres_cdc"
        checks.append(
            _run(
                Check("OLTP source", redact(oltp) + (" (CDC)" if cdc else "")),
                lambda: probe_postgres(oltp, need_logical=cdc),
            )
        )
    else:
        checks.append(
            Check("OLTP source", redact(oltp), FAIL, "expected sqlite:/// or postgresql://")
        )

    # engine (the dbt target)
    target = settings.dbt_env(settings.lake_url)["DBT_TARGET"]
    if target == "postgres":
        dsn = dbt_postgres_dsn(env)
        schema = env.get("DBT_PG_SCHEMA") or "-"
        if dsn is None:
            checks.append(Check("engine", "dbt target postgres", FAIL, "DBT_PG_HOST is not set"))
        else:
            checks.append(
                _run(
                    Check("engine", f"dbt target postgres: {redact(dsn)} schema {schema}"),
                    lambda: probe_postgres(dsn),
                )
            )
    else:
        path = settings.duckdb_path
        exists = "exists" if path.exists() else "created by the first dbt build"
        checks.append(Check("engine", f"dbt target {target}: {path}", OK, f"DuckDB file {exists}"))
        checks.append(
            _run(
                Check("lake tables", f"DuckLake catalog {redact(settings.lake_catalog)}"),
                lambda: probe_lake_tables(settings, env),
            )
        )

    # serving
    uri = (env.get("SERVING_DATABASE_URI") or "").strip()
    publisher = (env.get("SERVING_PG_DSN") or "").strip()
    if publisher:
        checks.append(
            _run(
                Check("serving (publisher)", redact(publisher)),
                lambda: probe_postgres(publisher),
            )
        )
    if uri and not uri.startswith("duckdb:"):
        checks.append(
            _run(
                Check("serving (readers)", redact(uri)),
                lambda: probe_postgres(sqlalchemy_to_libpq(uri)),
            )
        )
    elif not publisher:
        from serving.duckdb_catalog import catalog_path

        catalog = Path(uri.removeprefix("duckdb:///")) if uri else None
        catalog = catalog or catalog_path(settings.serving_dir)
        checks.append(
            _run(
                Check("serving", f"DuckDB catalog {catalog}"), lambda: probe_duckdb_catalog(catalog)
            )
        )

    # connections file
    def connections() -> str:
        from ingestion.connections import load_connections

        try:
            loaded = load_connections(settings.connections_file, settings.interpolation_env())
        except ValueError as exc:
            raise Unavailable(error_line(exc, 240)) from exc
        names = ", ".join(f"{n} ({c.source})" for n, c in loaded.connections.items())
        return f"{len(loaded.connections)} connections: {names}"

    checks.append(_run(Check("connections", str(settings.connections_file)), connections))

    # Dagster home and the UIs
    explicit = env.get("DAGSTER_HOME") or ""
    home = Path(explicit or settings.data_dir / "dagster_home")
    setting = str(home) if explicit else f"{home} (DAGSTER_HOME unset: the demo, CLI and UI's)"
    if home.is_dir():
        writable = os.access(home, os.W_OK)
        detail = "a writable folder" if writable else "not writable by this user"
        checks.append(Check("Dagster home", setting, OK if writable else FAIL, detail))
    elif explicit:
        checks.append(Check("Dagster home", setting, FAIL, "does not exist"))
    else:
        checks.append(Check("Dagster home", setting, WARN, "created by `make ui`"))
    checks.append(_dagster_storage_check(home, env))
    for component, variable, path in (
        ("Dagster webserver", "DAGSTER_URL", "/server_info"),
        ("Superset", "SUPERSET_URL", "/health"),
    ):
        url = (env.get(variable) or "").strip()
        if url:
            checks.append(_run(Check(component, url), lambda url=url, p=path: probe_http(url, p)))
        else:
            checks.append(
                Check(component, f"({variable} unset)", SKIP, "not checked", required=False)
            )
    return checks


def _dagster_storage_check(home: Path, env: Mapping[str, str]) -> Check:
    """Runs, event logs and schedules: PostgreSQL (server mode) or SQLite under the home."""
    try:
        dsn = dagster_storage_dsn(home, env)
    except Unavailable as exc:
        return Check("Dagster storage", f"PostgreSQL ({home / 'dagster.yaml'})", FAIL, str(exc))
    except (OSError, ValueError) as exc:  # unreadable or invalid YAML
        return Check("Dagster storage", str(home / "dagster.yaml"), FAIL, error_line(exc, 240))
    if dsn is None:
        return Check(
            "Dagster storage",
            f"SQLite under {home}",
            OK,
            "Dagster's default: one machine (server mode uses PostgreSQL)",
            required=False,
        )
    return _run(Check("Dagster storage", f"PostgreSQL {redact(dsn)}"), lambda: probe_postgres(dsn))


def report_table(checks: list[Check]) -> Table:
    table = Table(title="lakehouse doctor", title_justify="left")
    table.add_column("component", style="bold")
    table.add_column("setting", overflow="fold")
    table.add_column("status", justify="center")
    table.add_column("detail", overflow="fold")
    for check in checks:
        style = _STYLE.get(check.status, "")
        table.add_row(check.component, check.setting, f"[{style}]{check.status}[/]", check.detail)
    return table


def doctor(settings: Settings | None = None, console: Console | None = None) -> int:
    """Print the report; 0 when every required service answers, 1 otherwise."""
    settings = settings or Settings.from_env()
    console = console or Console(width=max(120, Console().width))
    checks = run_checks(settings)
    console.print(report_table(checks))
    failed = [c for c in checks if c.failed]
    if failed:
        console.print(
            f"[bold red]{len(failed)} required service(s) do not answer:[/] "
            + ", ".join(c.component for c in failed)
        )
        return 1
    warnings = [c for c in checks if c.status == WARN]
    if warnings:
        console.print(
            f"[yellow]every required service answers; {len(warnings)} not created yet:[/] "
            + ", ".join(c.component for c in warnings)
        )
    else:
        console.print("[green]every configured service answers[/]")
    return 0


__all__ = ["Check", "doctor", "report_table", "run_checks"]
