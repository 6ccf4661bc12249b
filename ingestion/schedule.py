"""When a stream's next scheduled sync is due, from its cron schedule (connections.yml).

Each run record keeps it per stream (`next_scheduled_at`), so the monitoring can tell a
stream that is late from one whose schedule is simply sparse, without reading cron in SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter


def next_tick(schedule: str | None, after: datetime) -> datetime | None:
    """The first time the cron schedule fires after `after` (UTC); None without one."""
    if not schedule:
        return None
    return croniter(schedule, after.astimezone(UTC)).get_next(datetime).astimezone(UTC)


__all__ = ["next_tick"]
