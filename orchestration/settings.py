"""Every environment-specific setting, read once from the environment (and `.env`).

Unset or empty variables fall back to the embedded default: everything under DATA_DIR
(a local lake folder, a SQLite OLTP, a DuckDB file), no servers needed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lake.tables.catalog import TableCatalog

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
POSTGRES_TARGET = "postgres"  # the profile's PostgreSQL target (dbt_project/profiles.yml)
# DuckDB with the DuckLake catalog in PostgreSQL (server mode; the profile's attach options
# differ from a SQLite catalog's, hence a target of its own)
PG_CATALOG_TARGET = "duckdb_pg_catalog"


def _get(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name) or default


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    lake_url: str
    landing_url: str
    oltp_dsn: str
    duckdb_path: Path
    connections_file: Path
    scale: float
    seed: int
    # default: duckdb, duckdb_s3 for a lake in a bucket, duckdb_pg_catalog for a PostgreSQL
    # catalog
    dbt_target: str | None = None
    lake_catalog: str = ""  # the DuckLake catalog (lake/tables/catalog.py); set by from_env

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        if env is None:
            _load_dotenv()
            env = os.environ
        data_dir = Path(_get(env, "DATA_DIR", str(REPO_ROOT / "data"))).resolve()
        try:
            scale = float(_get(env, "DATAGEN_SCALE", "0.01"))
            seed = int(_get(env, "DATAGEN_SEED", "42"))
        except ValueError as exc:
            raise ValueError(f"DATAGEN_SCALE / DATAGEN_SEED: expected numbers ({exc})") from exc
        lake_url = _get(env, "LAKE_URL", str(data_dir / "lake"))
        return cls(
            data_dir=data_dir,
            lake_url=lake_url,
            landing_url=_get(env, "LANDING_URL", str(data_dir / "landing")),
            oltp_dsn=_get(env, "OLTP_DSN", f"sqlite:///{data_dir / 'shop.db'}"),
            duckdb_path=Path(
                _get(env, "DUCKDB_PATH", str(data_dir / "warehouse.duckdb"))
            ).resolve(),
            connections_file=Path(
                _get(env, "CONNECTIONS_FILE", str(REPO_ROOT / "connections.yml"))
            ),
            scale=scale,
            seed=seed,
            dbt_target=env.get("DBT_TARGET") or None,
            lake_catalog=_lake_catalog(env, data_dir, lake_url),
        )._checked(env)

    def _checked(self, env: Mapping[str, str]) -> Settings:
        """Refuse a postgres dbt target without its connection settings (dbt would fail
        later, or reach whatever listens on a guessed address)."""
        from warehouse.postgres_tables import missing_dbt_pg_settings  # pyarrow: only when asked

        missing = missing_dbt_pg_settings(env) if self.dbt_on_postgres else []
        if missing:
            raise ValueError(
                f"DBT_TARGET={POSTGRES_TARGET} needs {', '.join(missing)} "
                "(where dbt builds; README, Configuration): not set"
            )
        return self

    @property
    def serving_dir(self) -> Path:
        """Where the read-only serving catalog over gold (what Superset reads) is published."""
        return self.data_dir / "serving"

    @property
    def lake_is_s3(self) -> bool:
        return self.lake_url.startswith(("s3://", "s3a://"))

    def interpolation_env(self) -> dict[str, str]:
        """The environment the connections file is resolved against, defaults filled in."""
        return {
            **os.environ,
            "DATA_DIR": str(self.data_dir),
            "OLTP_DSN": self.oltp_dsn,
            "LANDING_URL": self.landing_url,
            "LAKE_URL": self.lake_url,
            # the shop is read by log-based CDC when it lives in PostgreSQL
            "SHOP_SOURCE": os.environ.get("SHOP_SOURCE")
            or ("postgres_cdc" if self.oltp_dsn.startswith("postgres") else "sql"),
        }

    @property
    def resolved_dbt_target(self) -> str:
        """The dbt target in effect: DBT_TARGET, else DuckDB over the lake's filesystem with
        the lake's catalog."""
        if self.dbt_target:
            return self.dbt_target
        if not self.lake_catalog.startswith("sqlite:"):
            return PG_CATALOG_TARGET
        return "duckdb_s3" if self.lake_is_s3 else "duckdb"

    @property
    def dbt_on_postgres(self) -> bool:
        """dbt builds in PostgreSQL (from raw_* tables loaded from bronze), not in the lake."""
        return self.resolved_dbt_target == POSTGRES_TARGET

    def dbt_env(self, lake_uri: str) -> dict[str, str]:
        """Variables dbt's profile and project read: where the lake and the DuckDB file are,
        relative to the data folder, dbt's working directory (DBT_WORKDIR, for
        `lakehouse-dbt`: orchestration/dbt_launch.py says why). The catalog's password and
        the S3 keys stay in the variables they came from (LAKE_CATALOG_PASSWORD, LAKE_S3_*):
        the profile reads them there."""
        catalog = self.lake_catalog
        if catalog.startswith("sqlite:"):
            catalog = f"sqlite:{self._from_data_dir(catalog.removeprefix('sqlite:'))}"
        return {
            "LAKE_ROOT": self._from_data_dir(lake_uri),
            "DUCKDB_PATH": self._from_data_dir(str(self.duckdb_path)),
            "DBT_TARGET": self.resolved_dbt_target,
            "LAKE_CATALOG": catalog,
            "DBT_WORKDIR": str(self.data_dir),
        }

    def _from_data_dir(self, location: str) -> str:
        """A local path inside the data folder as a path relative to it; anything else
        (a bucket URL, a path elsewhere) as it is."""
        if "://" in location:
            return location
        try:
            return str(Path(location).relative_to(self.data_dir))
        except ValueError:
            return location

    def table_catalog(self, lake_uri: str) -> TableCatalog:
        """The lake's DuckLake: silver and gold (docs/lake.md)."""
        from lake.tables.catalog import TableCatalog

        return TableCatalog.of(self.lake_catalog, lake_uri)


def _lake_catalog(env: Mapping[str, str], data_dir: Path, lake_url: str) -> str:
    """LAKE_CATALOG: PostgreSQL (`postgres:host=... dbname=... user=...` or
    `postgresql://user@host:port/dbname`, validated, without its password: that is
    LAKE_CATALOG_PASSWORD), or a SQLite file (`sqlite:PATH` or a plain path, relative to
    DATA_DIR). Default: beside a local lake, `<lake>.sqlite` (DATA_DIR/lake.sqlite for the
    default lake); DATA_DIR/lake.sqlite for a bucket."""
    value = (env.get("LAKE_CATALOG") or "").strip()
    if value.startswith(("postgres:", "postgresql://", "postgres://")):
        from lake.tables.catalog import postgres_catalog  # duckdb, psycopg: only when asked

        return postgres_catalog(value)
    if not value:
        from lake.location import parse_lake_url

        location = parse_lake_url(lake_url)
        value = "lake.sqlite" if location.is_s3 else f"{location.root.rstrip('/')}.sqlite"
    path = Path(value.removeprefix("sqlite:")).expanduser()
    return f"sqlite:{path if path.is_absolute() else data_dir / path}"


def _load_dotenv() -> None:
    """Values from an untracked .env at the repo root; real environment variables win."""
    from dotenv import load_dotenv

    load_dotenv(REPO_ROOT / ".env", override=False)


@contextlib.contextmanager
def exported(variables: Mapping[str, str]) -> Iterator[None]:
    """`variables` in os.environ for a child process started inside the block (dbt, which
    reads its profile's settings from the environment), then the environment as it was: a
    later run in the same process (a test session, a long-running stream) must not inherit
    one lake's catalog or warehouse."""
    saved = dict(os.environ)
    os.environ.update(variables)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
