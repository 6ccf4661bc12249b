"""Superset configuration for the lakehouse (point SUPERSET_CONFIG_PATH at this file).

Everything secret comes from the environment. Superset refuses to start (this module raises)
rather than sign sessions with a missing, short or published key: a known SECRET_KEY lets
anyone forge an admin session cookie (CVE-2023-27524).
"""

from __future__ import annotations

import os
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


def _metadata_db_uri() -> str:
    uri = os.environ.get("SUPERSET_METADATA_DB_URI", "").strip()
    if uri:
        return uri
    data_dir = Path(os.environ.get("DATA_DIR", "").strip() or "./data").resolve()
    db_path = data_dir / "superset" / "superset.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{db_path}"


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = _metadata_db_uri()

# Superset is served directly (or behind a proxy that is configured explicitly later): do not
# trust X-Forwarded-* headers by default.
ENABLE_PROXY_FIX = False

FEATURE_FLAGS = {
    "DASHBOARD_NATIVE_FILTERS": True,
}
