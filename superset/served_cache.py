"""Superset's chart result cache, keyed by the publication served.

A publish moves the serving link (`gold.duckdb`, serving/duckdb_catalog.py) to a new catalog
file, one per publication. Every cache key is prefixed with that file's name, so the first
request after a publish misses and reads the new snapshot: dashboards never show a
superseded publication from the cache (the timeout only bounds how long an answer is reused
within one publication). The answers of superseded publications are never read again and
expire.

The name is read once per request, before its query connects (`pin_publication`, a
`before_request` hook): a result stored by a request is the snapshot its connection opened
or a newer one, never an older one under a newer name (reading it at `set` would file the
answer of a request that raced a publish under the new publication).

No link (PostgreSQL serving, nothing published yet): an empty prefix, plain keys.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from flask import Flask, g, has_request_context
from flask_caching.backends.filesystemcache import FileSystemCache

_ATTRIBUTE = "lakehouse_served_publication"


@cache
def _link() -> str:
    from bootstrap import default_catalog

    return str(default_catalog())


def served_publication() -> str:
    """The catalog file the serving link points at (a publication's id), or ''."""
    try:
        return os.path.basename(os.readlink(_link()))
    except OSError:  # not a link: PostgreSQL serving, or nothing published yet
        return ""


def _request_publication() -> str:
    if not has_request_context():
        return served_publication()
    if not hasattr(g, _ATTRIBUTE):
        setattr(g, _ATTRIBUTE, served_publication())
    return getattr(g, _ATTRIBUTE)


def pin_publication(app: Flask) -> None:
    """Read the publication served when each request starts (FLASK_APP_MUTATOR)."""

    @app.before_request
    def _pin() -> None:
        setattr(g, _ATTRIBUTE, served_publication())


class ServedSnapshotCache(FileSystemCache):
    """A file cache whose keys carry the publication served (DATA_CACHE_CONFIG's type)."""

    def _get_filename(self, key: Any) -> str:
        return super()._get_filename(f"{_request_publication()}/{key}")
