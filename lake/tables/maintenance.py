"""Maintenance of the lake's DuckLake: expire old snapshots, compact small files, delete the
files that no kept snapshot reads.

Every dbt build adds snapshots (one per model it commits) and files: a table rebuilt from
scratch leaves its previous files for time travel, an incremental merge adds a small insert
file and a delete file. Nothing is freed until snapshots expire. One run:

1. merges adjacent small files of each table (DuckLake's `ducklake_merge_adjacent_files`:
   the merged file keeps each row's snapshot, so time travel to a kept snapshot still works)
   and rewrites data files with their deletes applied (`ducklake_rewrite_data_files`);
2. expires the snapshots older than the retention (`LAKE_RETENTION_DAYS`), except the newest
   `LAKE_KEEP_SNAPSHOTS`, and every snapshot in `keep` (the published ones that serving may
   roll back to): those stay readable with `AT (VERSION => n)`;
3. deletes the files that no kept snapshot reads any more, once they have been unreferenced
   for `grace_seconds` (a query that started before may still read them) and are not named
   by a frozen copy of the catalog that serving still reads (`copies_since`);
4. deletes orphaned table files (written by a build that died before its commit), only
   `ducklake-*.parquet` outside bronze and `_ops`, and only when older than a day. DuckLake's
   own `ducklake_delete_orphaned_files` is not called as such: the catalog's data path is the
   lake root, and it would delete bronze, which the catalog does not know.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb

from lake.storage import Lake
from lake.tables.catalog import ALIAS, CatalogError, TableCatalog, connect

RETENTION_DAYS_ENV = "LAKE_RETENTION_DAYS"
KEEP_SNAPSHOTS_ENV = "LAKE_KEEP_SNAPSHOTS"
DEFAULT_RETENTION_DAYS = 7.0
# a dbt build commits one snapshot per model (~35): the newest 100 are about three builds
DEFAULT_KEEP_SNAPSHOTS = 100
GRACE_SECONDS = 600.0  # longer than any dashboard query (Superset times out at 60 s)
ORPHAN_AGE_SECONDS = 86_400.0  # longer than any build: its uncommitted files are not orphans
TABLE_FILE_PREFIX = "ducklake-"
NOT_TABLE_FOLDERS = ("bronze/", "_ops/")  # in the data path, but never the catalog's


class MaintenanceError(ValueError):
    """A retention setting that cannot work; the message names it."""


@dataclass(frozen=True)
class Retention:
    days: float = DEFAULT_RETENTION_DAYS
    keep_last: int = DEFAULT_KEEP_SNAPSHOTS
    grace_seconds: float = GRACE_SECONDS
    orphan_age_seconds: float = ORPHAN_AGE_SECONDS

    def __post_init__(self) -> None:
        if self.days < 0 or self.keep_last < 1 or self.grace_seconds < 0:
            raise MaintenanceError(
                f"retention: days {self.days} (>= 0), keep_last {self.keep_last} (>= 1), "
                f"grace {self.grace_seconds} s (>= 0)"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str], days: float | None = None) -> Retention:
        """LAKE_RETENTION_DAYS and LAKE_KEEP_SNAPSHOTS (`days` given wins)."""
        try:
            if days is None:
                days = float(env.get(RETENTION_DAYS_ENV) or DEFAULT_RETENTION_DAYS)
            keep_last = int(env.get(KEEP_SNAPSHOTS_ENV) or DEFAULT_KEEP_SNAPSHOTS)
        except ValueError as exc:
            raise MaintenanceError(
                f"{RETENTION_DAYS_ENV} / {KEEP_SNAPSHOTS_ENV}: expected numbers ({exc})"
            ) from exc
        return cls(days=days, keep_last=keep_last)


@dataclass(frozen=True)
class FileCount:
    files: int
    bytes: int


@dataclass
class MaintenanceReport:
    dry_run: bool
    snapshots_before: int = 0
    expired: list[int] = field(default_factory=list)  # snapshot ids
    kept_for_serving: list[int] = field(default_factory=list)  # would have expired but for keep
    merged: dict[str, tuple[int, int]] = field(default_factory=dict)  # table: (in, out) files
    rewritten: dict[str, tuple[int, int]] = field(default_factory=dict)
    deleted_files: int = 0
    freed_bytes: int = 0
    orphans: list[str] = field(default_factory=list)  # keys under the lake root
    before: FileCount = FileCount(0, 0)  # the table files in the lake
    after: FileCount = FileCount(0, 0)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """What was done (or, in a dry run, would be), for a terminal or a run log."""
        verb = "would " if self.dry_run else ""
        merged_in = sum(i for i, _ in self.merged.values())
        merged_out = sum(o for _, o in self.merged.values())
        rewritten = sum(i for i, _ in self.rewritten.values())
        lines = [
            f"snapshots: {len(self.expired)} of {self.snapshots_before} {verb}expire"
            + (f" ({_ranges(self.expired)})" if self.expired else ""),
            f"kept for serving: {_ranges(self.kept_for_serving) or 'none older than retention'}",
            f"files: {verb or ''}delete {self.deleted_files} ({_size(self.freed_bytes)})"
            f", {len(self.orphans)} orphaned",
        ]
        if self.dry_run:
            lines.append("compaction: not run in a dry run")
        else:
            lines.append(
                f"compaction: {merged_in} small files merged into {merged_out} "
                f"in {len(self.merged)} tables, {rewritten} files with deletes rewritten"
            )
            lines.append(
                f"table files: {self.before.files} ({_size(self.before.bytes)}) -> "
                f"{self.after.files} ({_size(self.after.bytes)}) in {self.seconds:.1f} s"
            )
        return lines


def maintain(
    lake: Lake,
    tables: TableCatalog,
    retention: Retention,
    keep: Iterable[int] = (),
    dry_run: bool = False,
    now: datetime | None = None,
    copies_since: datetime | None = None,
) -> MaintenanceReport:
    """One maintenance run over the lake's DuckLake; `keep`: snapshot ids that must stay
    readable (the published ones); `copies_since`: when the oldest frozen copy of the
    catalog that a reader may still use was taken (lake/tables/frozen.py): the files the
    catalog dropped since then are kept."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    report = MaintenanceReport(dry_run=dry_run, before=_table_files(lake))
    # read-write even for a dry run: DuckLake lists orphans only on a writable attach
    # (it writes nothing then); but never create a catalog that is not there
    connect(tables, read_only=True).close()
    con = connect(tables)
    try:
        # compaction first: the files it replaces are freed in this run once the snapshots
        # that still read them expire
        if not dry_run:
            report.rewritten = _per_table(con, "ducklake_rewrite_data_files")
            report.merged = _per_table(con, "ducklake_merge_adjacent_files")
        expire, report.kept_for_serving, report.snapshots_before = _plan_expiry(
            con, retention, set(keep), now
        )
        report.expired = expire
        if expire and not dry_run:
            # fetched: DuckDB runs a table function only as its result is read
            con.execute(
                "select count(*) from ducklake_expire_snapshots(?, versions => ?)",
                [ALIAS, expire],
            ).fetchall()
        cutoff = now - timedelta(seconds=retention.grace_seconds)
        if copies_since is not None:
            cutoff = min(cutoff, copies_since)
        report.deleted_files, report.freed_bytes = _delete_old_files(
            con, lake, tables, cutoff, dry_run
        )
        report.orphans = _orphans(
            con, lake, tables, now - timedelta(seconds=retention.orphan_age_seconds)
        )
        if not dry_run:
            lake.delete_files(lake.path(key) for key in report.orphans)
    except duckdb.Error as exc:
        # each step is its own commit: those before this one stay, the next run goes on
        raise CatalogError(
            f"lake maintenance on the catalog {tables.name} stopped: "
            f"{str(exc).strip().splitlines()[0]} ({_hint(exc)})"
        ) from exc
    finally:
        con.close()
    report.after = report.before if dry_run else _table_files(lake)
    report.seconds = time.perf_counter() - started
    return report


def _hint(exc: duckdb.Error) -> str:
    text = str(exc).lower()
    if "locked" in text or "failed to commit" in text:
        return "another process (a dbt build?) was committing to it: rerun when it has finished"
    return "the steps before this one are committed: rerun to finish"


def _plan_expiry(
    con: duckdb.DuckDBPyConnection, retention: Retention, keep: set[int], now: datetime
) -> tuple[list[int], list[int], int]:
    """(the snapshots to expire, those kept only because serving may need them, how many)."""
    rows = con.execute(
        f"select snapshot_id, snapshot_time from {ALIAS}.snapshots() order by snapshot_id"
    ).fetchall()
    newest = {sid for sid, _ in rows[-retention.keep_last :]}
    cutoff = now - timedelta(days=retention.days)
    old = [sid for sid, at in rows if sid not in newest and at < cutoff]
    return [s for s in old if s not in keep], [s for s in old if s in keep], len(rows)


def _per_table(con: duckdb.DuckDBPyConnection, function: str) -> dict[str, tuple[int, int]]:
    rows = con.execute(f"select * from {function}(?)", [ALIAS]).fetchall()
    return {
        f"{schema}.{table}": (int(processed), int(created))
        for schema, table, processed, created in rows
        if processed
    }


def _key(tables: TableCatalog, path: str) -> str:
    """A path DuckLake returns (the data path + a key) as a key under the lake root."""
    return path.removeprefix(tables.data_path)


def _delete_old_files(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    tables: TableCatalog,
    cutoff: datetime,
    dry_run: bool,
) -> tuple[int, int]:
    """Delete (or list) the files no kept snapshot reads, unreferenced since before
    `cutoff`; returns (files, bytes)."""
    sql = "select path from ducklake_cleanup_old_files(?, dry_run => ?, older_than => ?)"
    cutoff = _as_compared(tables, cutoff)
    planned = [_key(tables, p) for (p,) in con.execute(sql, [ALIAS, True, cutoff]).fetchall()]
    sizes = {lake.key_of(i.path): i.size for i in _infos(lake, planned)}
    if dry_run:
        return len(planned), sum(sizes.values())
    deleted = [_key(tables, p) for (p,) in con.execute(sql, [ALIAS, False, cutoff]).fetchall()]
    return len(deleted), sum(sizes.get(k, 0) for k in deleted)


def _as_compared(tables: TableCatalog, cutoff: datetime) -> datetime:
    """The `older_than` that deletes only files unreferenced before `cutoff`. A SQLite
    catalog keeps the time a file was dropped as text ('2026-12-06 10:15:00+00') and DuckLake
    compares it with an ISO 8601 text ('2026-12-06T09:05:00Z'): a space sorts before the
    'T', so every file dropped on the cutoff's day counted as older, grace or not. There
    the cutoff is the end of the day before: files dropped today wait for tomorrow's run."""
    if not tables.is_sqlite:
        return cutoff
    midnight = cutoff.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(microseconds=1)


def _orphans(
    con: duckdb.DuckDBPyConnection, lake: Lake, tables: TableCatalog, cutoff: datetime
) -> list[str]:
    """Table files the catalog does not know, last written before `cutoff`."""
    sql = "select path from ducklake_delete_orphaned_files(?, dry_run => true, older_than => ?)"
    keys = [_key(tables, p) for (p,) in con.execute(sql, [ALIAS, cutoff]).fetchall()]
    return sorted(
        k
        for k in keys
        if not k.startswith(NOT_TABLE_FOLDERS)
        and k.rpartition("/")[2].startswith(TABLE_FILE_PREFIX)
        and k.endswith(".parquet")
    )


def _infos(lake: Lake, keys: Iterable[str]):
    import pyarrow.fs as pafs

    paths = [lake.path(k) for k in keys]
    return [i for i in lake.fs.get_file_info(paths) if i.type == pafs.FileType.File]


def _table_files(lake: Lake) -> FileCount:
    """The DuckLake's files in the lake: everything outside bronze and _ops."""
    infos = [
        i
        for i in lake.list_files(lake.path(), ".parquet")
        if not lake.key_of(i.path).startswith(NOT_TABLE_FOLDERS)
        and i.base_name.startswith(TABLE_FILE_PREFIX)
    ]
    return FileCount(len(infos), sum(i.size for i in infos))


def _ranges(ids: list[int]) -> str:
    """1,2,3,5 -> '1-3, 5'."""
    parts: list[tuple[int, int]] = []
    for sid in sorted(ids):
        if parts and parts[-1][1] == sid - 1:
            parts[-1] = (parts[-1][0], sid)
        else:
            parts.append((sid, sid))
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in parts)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
