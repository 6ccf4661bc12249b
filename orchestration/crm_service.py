"""The demo's CRM: datagen's REST API served on loopback for the length of a run.

The `crm` connection reads CRM_API_URL and CRM_API_TOKEN; when they are unset, the demo
starts the API itself with a fresh random token (never a fixed one) and sets both.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from datagen.crm import generate_crm
from datagen.crm_api import CrmApiServer
from datagen.volumes import Volumes


@contextmanager
def crm_api_running(scale: float, seed: int) -> Iterator[str | None]:
    """Yield the URL of the CRM API the run should use (ours, or the configured one)."""
    if os.environ.get("CRM_API_URL") and os.environ.get("CRM_API_TOKEN"):
        yield os.environ["CRM_API_URL"]
        return
    token = secrets.token_urlsafe(24)
    tables = generate_crm(Volumes.for_scale(scale).customers, seed)
    saved = {k: os.environ.get(k) for k in ("CRM_API_URL", "CRM_API_TOKEN")}
    # generous limits: the demo measures our pipeline, not the API's throttling
    with CrmApiServer(tables, token, requests_per_second=200.0, burst=50) as api:
        os.environ.update(CRM_API_URL=api.url, CRM_API_TOKEN=token)
        try:
            yield api.url
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
