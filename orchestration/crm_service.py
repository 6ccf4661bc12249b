"""The demo's CRM: datagen's REST API served on loopback for the length of a run.

The `crm` connection reads CRM_API_URL and CRM_API_TOKEN; when they are unset, the demo
starts the API itself with a fresh random token (never a fixed one) and sets both. Outside a
demo run nothing serves it: `demo_crm_not_running` tells the commands that check sources.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from datagen.crm import generate_crm
from datagen.crm_api import TOKEN_ENV_VAR, CrmApiServer
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


# where connections.yml points the crm connection when CRM_API_URL is unset
DEMO_CRM_URL = "http://127.0.0.1:8765"
START_DEMO_CRM = (
    f"start it with `{TOKEN_ENV_VAR}=<token> .venv/bin/python -m datagen.crm_api` "
    f"(serves {DEMO_CRM_URL}; export the same {TOKEN_ENV_VAR} here), "
    "or set CRM_API_URL and CRM_API_TOKEN to a real CRM; `make demo` serves its own"
)


def demo_crm_not_running(base_url: object) -> bool:
    """Whether a connection points at the demo's CRM address (CRM_API_URL unset) and
    nothing listens there: a demo service that is off, not a failed source."""
    if os.environ.get("CRM_API_URL") or str(base_url).rstrip("/") != DEMO_CRM_URL:
        return False
    parts = urlsplit(DEMO_CRM_URL)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return False  # something answers: check it like any source
    except OSError:
        return True
