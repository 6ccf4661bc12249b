"""Alerts: a record under `_ops/alerts/` in the lake, and a Slack-compatible POST.

The record is always written (it is data, like the run log); the webhook is called when
ALERT_WEBHOOK_URL is set. A webhook that does not answer is noted in the record and
logged, never raised: the alert about the failure matters more than the delivery.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from lake import Lake

log = logging.getLogger(__name__)
WEBHOOK_ENV = "ALERT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_S = 10.0


@dataclass
class Alert:
    kind: str  # run_failure | check_failure
    title: str
    lines: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def text(self) -> str:
        return "\n".join([f":rotating_light: *{self.title}*", *(f"• {x}" for x in self.lines)])

    def key(self) -> str:
        stamp = self.created_at.strftime("%Y%m%dT%H%M%S.%fZ")
        return f"{stamp}-{self.kind}.json"


def post_webhook(url: str, text: str) -> str:
    """POST {"text": ...}; returns "delivered" or why not."""
    try:
        response = httpx.post(url, json={"text": text}, timeout=WEBHOOK_TIMEOUT_S)
        response.raise_for_status()
        return "delivered"
    except httpx.HTTPError as exc:
        log.warning("alert webhook %s failed: %s", url, exc)
        return f"failed: {exc}"


def send_alert(lake: Lake, alert: Alert, webhook_url: str | None = None) -> str:
    """Write the alert record (returns its path) and post it when a webhook is set."""
    url = webhook_url if webhook_url is not None else os.environ.get(WEBHOOK_ENV, "")
    delivery = post_webhook(url, alert.text()) if url else "no webhook configured"
    path = lake.path("_ops", "alerts", alert.key())
    lake.write_json(
        path,
        {
            "kind": alert.kind,
            "title": alert.title,
            "lines": alert.lines,
            "details": alert.details,
            "created_at": alert.created_at.isoformat(),
            "webhook": delivery,
        },
    )
    return path
