"""Superset configuration for the lakehouse (point SUPERSET_CONFIG_PATH at this file).

Everything secret comes from the environment: SUPERSET_SECRET_KEY, SUPERSET_ADMIN_USERNAME,
SUPERSET_ADMIN_PASSWORD and SUPERSET_METADATA_DB_URI (default: SQLite under
DATA_DIR/superset). Superset refuses to start (this module raises) rather than sign sessions
with a missing, short or published key (a known SECRET_KEY lets anyone forge an admin session
cookie, CVE-2023-27524) or run with a missing or well-known admin password.
`make bi` (orchestration/bi.py) generates both on first use into an untracked file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Values published in Superset's code, docs, compose files and Helm chart over the years.
_KNOWN_SECRET_KEYS = frozenset(
    {
        "\x02\x01thisismyscretkey\x01\x02\\e\\y\\y\\h",  # Superset < 1.4.1 default
        "\\2\\1thisismyscretkey\\1\\2\\e\\y\\y\\h",  # the same, as written in the source
        "CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET",  # Superset >= 1.4.1 default
        "thisISaSECRET_1234",  # deployment template / Helm chart
        "YOUR_OWN_RANDOM_GENERATED_SECRET_KEY",  # documentation
        "TEST_NON_DEV_SECRET",  # upstream docker-compose
        "USE_YOUR_OWN_SECURE_RANDOM_KEY",
        "change-me",
        "changeme",
    }
)
_MIN_SECRET_KEY_LENGTH = 32


def _secret_key() -> str:
    key = os.environ.get("SUPERSET_SECRET_KEY", "")
    if not key.strip():
        raise RuntimeError(
            "SUPERSET_SECRET_KEY is not set: generate one with `openssl rand -base64 42`"
        )
    if key in _KNOWN_SECRET_KEYS or key.strip() in _KNOWN_SECRET_KEYS:
        raise RuntimeError(
            "SUPERSET_SECRET_KEY is a published sample value: generate your own with "
            "`openssl rand -base64 42`"
        )
    if len(key) < _MIN_SECRET_KEY_LENGTH:
        raise RuntimeError(
            f"SUPERSET_SECRET_KEY is too short ({len(key)} characters, need at least "
            f"{_MIN_SECRET_KEY_LENGTH}): generate one with `openssl rand -base64 42`"
        )
    return key


# Passwords every scanner tries first.
_KNOWN_PASSWORDS = frozenset(
    {"admin", "administrator", "password", "superset", "changeme", "change-me", "secret"}
)
_MIN_PASSWORD_LENGTH = 12


def _check_admin_password() -> None:
    password = os.environ.get("SUPERSET_ADMIN_PASSWORD", "")
    if not password.strip():
        raise RuntimeError(
            "SUPERSET_ADMIN_PASSWORD is not set: `make bi` generates one, or set your own"
        )
    if password.lower().strip() in _KNOWN_PASSWORDS or len(password) < _MIN_PASSWORD_LENGTH:
        raise RuntimeError(
            "SUPERSET_ADMIN_PASSWORD is a well-known or short password (need at least "
            f"{_MIN_PASSWORD_LENGTH} characters): generate one with `openssl rand -base64 18`"
        )


def _metadata_db_uri() -> str:
    uri = os.environ.get("SUPERSET_METADATA_DB_URI", "").strip()
    if uri:
        return uri
    data_dir = Path(os.environ.get("DATA_DIR", "").strip() or "./data").resolve()
    db_path = data_dir / "superset" / "superset.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{db_path}"


SECRET_KEY = _secret_key()
_check_admin_password()
SQLALCHEMY_DATABASE_URI = _metadata_db_uri()

# Superset is served directly (or behind a proxy that is configured explicitly later): do not
# trust X-Forwarded-* headers by default.
ENABLE_PROXY_FIX = False

FEATURE_FLAGS = {
    "DASHBOARD_NATIVE_FILTERS": True,
}


def _cache_dir() -> str:
    home = os.environ.get("SUPERSET_HOME", "").strip()
    data_dir = Path(os.environ.get("DATA_DIR", "").strip() or "./data").resolve()
    path = (Path(home) if home else data_dir / "superset") / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


# Results of the chart data API are cached per query for a short while, keyed by the
# publication served (superset/served_cache.py): dashboards stay fast under load, and the
# first request after a publish reads the new snapshot. On disk, not in memory, so every
# gunicorn worker answers from the same cache (a per-process cache would make a user's
# second request miss whenever another worker takes it).
DATA_CACHE_CONFIG = {
    "CACHE_TYPE": "served_cache.ServedSnapshotCache",
    "CACHE_DIR": _cache_dir(),
    "CACHE_THRESHOLD": 5000,
    "CACHE_DEFAULT_TIMEOUT": int(os.environ.get("SUPERSET_DATA_CACHE_SECONDS") or 60),
    "CACHE_KEY_PREFIX": "lakehouse_data_",
}

# Nothing leaves the machine: no telemetry, no map tiles from the internet.
SCARF_ANALYTICS = False

# A 5-minute time grain (the clickstream marts' window), which Superset lacks for DuckDB.
TIME_GRAIN_ADDONS = {"PT5M": "5 minute"}
TIME_GRAIN_ADDON_EXPRESSIONS = {
    "duckdb": {"PT5M": "time_bucket(INTERVAL 5 MINUTE, CAST({col} AS TIMESTAMP))"},
    "postgresql": {"PT5M": "date_bin(INTERVAL '5 minutes', {col}, TIMESTAMP '2000-01-01')"},
}

# The serving catalog's views read the lake pinned to the published snapshot: every DuckDB
# connection attaches the lake when it opens (superset/served_lake.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from served_cache import pin_publication  # noqa: E402
from served_lake import install as _install_served_lake  # noqa: E402
from sqlite_metadata import engine_options as _sqlite_metadata_options  # noqa: E402
from sqlite_metadata import install as _install_sqlite_metadata  # noqa: E402

_install_served_lake()
FLASK_APP_MUTATOR = pin_publication

# Superset logs every API call into its metadata database (the Action Log, the home page's
# recent activity): 3 commits per chart request. On SQLite each commit waited for a sync to
# disk (16 ms here); in WAL mode a commit is an append (superset/sqlite_metadata.py).
_install_sqlite_metadata(SQLALCHEMY_DATABASE_URI)
SQLALCHEMY_ENGINE_OPTIONS = _sqlite_metadata_options(SQLALCHEMY_DATABASE_URI)
