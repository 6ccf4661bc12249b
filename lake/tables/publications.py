"""Publications: which DuckLake snapshot of gold the dashboards read, and its history.

Publishing records the snapshot of a build whose tests passed; a rollback records a return to
an earlier published snapshot. Each event is one JSON document in the lake,
`_ops/serving/<publication_id>.json`, written atomically (on a local disk and in a bucket),
so the history lives with the lake and its catalog: whoever has the lake (the serving
side, snapshot expiry) knows which snapshots must stay readable. The id sorts by time.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import duckdb

from lake.errors import LakeError
from lake.storage import Lake
from lake.tables.catalog import ALIAS

FOLDER = ("_ops", "serving")
PUBLISH = "publish"
ROLLBACK = "rollback"


@dataclass(frozen=True)
class Publication:
    publication_id: str
    action: str  # publish | rollback
    lake_snapshot_id: int  # the DuckLake snapshot served from then on
    published_at: str  # ISO 8601, UTC
    models: dict[str, int] = field(default_factory=dict)  # rows per gold mart at that snapshot

    @classmethod
    def new(cls, action: str, lake_snapshot_id: int, models: dict[str, int]) -> Publication:
        now = datetime.now(UTC)
        # sortable by time, unique even within the same microsecond
        publication_id = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:6]}"
        return cls(publication_id, action, int(lake_snapshot_id), now.isoformat(), models)


def record(lake: Lake, publication: Publication) -> None:
    lake.write_json(lake.path(*FOLDER, f"{publication.publication_id}.json"), asdict(publication))


def history(lake: Lake) -> list[Publication]:
    """Every publish and rollback, oldest first."""
    documents = []
    for info in lake.list_files(lake.path(*FOLDER), suffix=".json"):
        try:
            documents.append(Publication(**lake.read_json(info.path)))
        except (ValueError, TypeError) as exc:
            raise LakeError(
                f"the publication record {info.path} is not valid ({exc}): restore it or "
                "delete it (the serving history then forgets that event)"
            ) from exc
    return sorted(documents, key=lambda p: p.publication_id)


def served(lake: Lake) -> Publication | None:
    """The publication the dashboards read now (the last event), None before the first."""
    events = history(lake)
    return events[-1] if events else None


def previous_publish(events: list[Publication]) -> Publication | None:
    """Where a rollback goes: the publish before the one served now. Replaying the history
    (a publish serves itself, a rollback the publish before the served one), successive
    rollbacks walk back one publish at a time."""
    publishes = [e for e in events if e.action == PUBLISH]
    position = -1
    for event in events:
        position = publishes.index(event) if event.action == PUBLISH else position - 1
    return publishes[position - 1] if position > 0 else None


def published_snapshots(lake: Lake, last: int | None = None) -> list[int]:
    """The DuckLake snapshots of the publications (the `last` publishes, default all),
    ascending: snapshot expiry must keep them, as the served one and those a rollback may
    return to."""
    publishes = [e for e in history(lake) if e.action == PUBLISH]
    if last is not None:
        publishes = publishes[-last:] if last > 0 else []
    kept = {p.lake_snapshot_id for p in publishes}
    current = served(lake)
    if current is not None:
        kept.add(current.lake_snapshot_id)
    return sorted(kept)


def snapshot_at(con: duckdb.DuckDBPyConnection, moment: datetime, alias: str = ALIAS) -> int:
    """The last snapshot committed at or before `moment` (the end of a build), so a publish
    after the build never picks up a commit of a build that started since."""
    row = con.execute(
        f"select max(snapshot_id) from {alias}.snapshots() where snapshot_time <= ?", [moment]
    ).fetchone()
    if row is None or row[0] is None:
        raise LakeError(f"the lake's catalog has no snapshot before {moment.isoformat()}")
    return int(row[0])
