"""The shop's changes as Debezium change events (the JSON converter's envelope with
`payload`), one topic per table: first a snapshot of the table (`op` r), then live
changes: new orders (c), status updates (u) and deletions (d) with the old row's key.
`source.lsn` grows with every event, as a PostgreSQL connector's would; messages are
keyed by the primary key, so one row's changes stay in order in one partition."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import numpy as np
import orjson
import pyarrow as pa

from datagen.marketplace import generate_shop
from datagen.volumes import Volumes

STATUSES = ["placed", "paid", "shipped", "delivered", "cancelled"]
KEYS = {"orders": "order_id", "customers": "customer_id", "products": "product_id"}


def _plain(row: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


class ChangeFeed:
    """Debezium events of one shop table: the snapshot, then changes."""

    def __init__(self, table: str, scale: float, seed: int, start_lsn: int = 1 << 24):
        if table not in KEYS:
            raise ValueError(f"unknown table {table!r}: expected one of {', '.join(KEYS)}")
        self.table, self.key = table, KEYS[table]
        self.rows: pa.Table = generate_shop(Volumes.for_scale(scale), seed)[table]
        self.lsn = start_lsn
        self.rng = np.random.default_rng(seed)
        self.live = {r[self.key]: _plain(r) for r in self.rows.to_pylist()}
        self.next_id = max(self.live) + 1

    def _event(self, op: str, before: dict | None, after: dict | None) -> tuple[bytes, bytes]:
        self.lsn += 8
        row = after or before
        payload = {
            "before": before,
            "after": after,
            "op": op,
            "ts_ms": int(time.time() * 1000),
            "source": {"connector": "postgresql", "db": "shop", "schema": "public",
                       "table": self.table, "lsn": self.lsn},
        }  # fmt: skip
        key = orjson.dumps({self.key: row[self.key]})
        return key, orjson.dumps({"payload": payload})

    def snapshot(self) -> Iterator[tuple[bytes, bytes]]:
        for row in list(self.live.values()):
            yield self._event("r", None, row)

    def changes(self, n: int) -> list[tuple[bytes, bytes]]:
        out = []
        ids = list(self.live)
        for kind in self.rng.choice(["c", "u", "d"], n, p=[0.5, 0.4, 0.1]):
            if kind == "c" or not ids:
                template = self.live[ids[int(self.rng.integers(0, len(ids)))]] if ids else {}
                row = {**template, self.key: self.next_id}
                self.next_id += 1
                self.live[row[self.key]] = row
                ids.append(row[self.key])
                out.append(self._event("c", None, row))
            elif kind == "u":
                old = self.live[ids[int(self.rng.integers(0, len(ids)))]]
                new = dict(old)
                if "status" in new:
                    new["status"] = STATUSES[int(self.rng.integers(0, len(STATUSES)))]
                self.live[new[self.key]] = new
                out.append(self._event("u", old, new))
            else:
                gone = ids.pop(int(self.rng.integers(0, len(ids))))
                old = self.live.pop(gone)
                # the default replica identity: only the key in `before`
                out.append(
                    self._event(
                        "d", {k: (v if k == self.key else None) for k, v in old.items()}, None
                    )
                )
        return out


__all__ = ["ChangeFeed"]
