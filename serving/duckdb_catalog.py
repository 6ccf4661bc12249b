"""Serve gold to dashboards pinned to a published DuckLake snapshot (embedded default).

Gold is a set of DuckLake tables (lake/tables/catalog.py) that dbt changes while dashboards
read. Nothing is copied: a publish records the DuckLake snapshot of a build whose tests
passed (lake/tables/publications.py) and writes a small read-only DuckDB catalog whose views
read gold as of that snapshot:

- `analytics.<mart>`: `select * from lake.marts.<mart> at (version => N)`;
- `analytics.gold_publication`: rows per mart of the publication served;
- `_serving.lake_attachment`: the statement that attaches the DuckLake read-only as `lake`.
  A DuckDB file cannot keep an attached database, so every reader runs it once per process
  after opening the catalog (`open_served` here; Superset's connect hook in
  superset/superset_config.py): the views bind to `lake` only when queried.

The catalog is written under a temporary name, closed and renamed into `catalogs/`; then
`serving_dir/gold.duckdb`, a symbolic link, is moved onto it with `os.replace`, so a reader
opens the old catalog or the new one, never a half-written or locked file. A new file per
publication, and a link rather than the file itself, because DuckDB caches open databases
per process by resolved path: while any connection of a process (one Superset worker) has a
catalog open, a new connection to a file replaced in place would get the old instance again.

A rollback does the same with the previous published snapshot. Publishes and rollbacks are
serialized with a lock file. Catalogs superseded for `GRACE_SECONDS` are deleted (a few
hundred KB each); the DuckLake snapshots they pin are kept by snapshot expiry, which asks
`published_snapshots`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import duckdb

from lake.errors import LakeError
from lake.storage import TMP_PREFIX, Lake
from lake.tables import publications
from lake.tables.catalog import (
    ALIAS,
    CatalogError,
    TableCatalog,
    add_secrets,
    connect,
    tables_in,
)
from lake.tables.catalog import current_snapshot as lake_snapshot_of
from lake.tables.frozen import SUFFIX as COPY_SUFFIX
from lake.tables.frozen import freeze, moved
from lake.tables.publications import Publication

log = logging.getLogger(__name__)

CATALOG_NAME = "gold.duckdb"
SCHEMA = "analytics"
GOLD_SCHEMA = "marts"  # the DuckLake schema of the gold tables (dbt's marts)
PUBLICATION_TABLE = "gold_publication"
CATALOGS = "catalogs"
META_SCHEMA = "_serving"
ATTACHMENT_TABLE = "lake_attachment"
KEEP_CATALOGS = 2  # the current one and the previous one
GRACE_SECONDS = 600.0  # longer than any dashboard query (Superset times out at 60 s)


@dataclass(frozen=True)
class PublishResult:
    catalog_path: Path
    snapshot_id: str  # the publication's id
    models: dict[str, int]  # rows per mart
    lake_snapshot: int  # the DuckLake snapshot served
    action: str = publications.PUBLISH
    pruned_catalogs: list[str] = field(default_factory=list)
    seconds: float = 0.0


def catalog_path(serving_dir: Path) -> Path:
    """Where the serving catalog is (what Superset opens, read-only): a link to the catalog
    of the publication served."""
    return Path(serving_dir) / CATALOG_NAME


def publish_gold(
    lake: Lake,
    serving_dir: Path,
    tables: TableCatalog | None = None,
    built_at: datetime | None = None,
    grace_seconds: float = GRACE_SECONDS,
) -> PublishResult:
    """Serve the lake's gold as of its latest DuckLake snapshot (or the last one committed
    by `built_at`, the end of the build being published) and record the publication."""
    tables = tables or TableCatalog.beside(lake.location)
    started = time.perf_counter()
    serving_dir = Path(serving_dir)
    catalogs = _catalogs(serving_dir)
    with _publish_lock(serving_dir):
        # counted on the frozen copy the views will read (lake/tables/frozen.py)
        readable = freeze(tables, catalogs / f"{TMP_PREFIX}{uuid.uuid4().hex}{COPY_SUFFIX}")
        try:
            with _reader(lake, readable) as con:
                latest = lake_snapshot_of(con)
                snapshot = publications.snapshot_at(con, built_at) if built_at else latest
                if snapshot == latest:
                    models = _rows_per_mart(con, snapshot, lake)
            if snapshot != latest:  # the marts as of the build's snapshot, not as of now
                with _reader(lake, readable, snapshot) as con:
                    models = _rows_per_mart(con, snapshot, lake)
            publication = Publication.new(publications.PUBLISH, snapshot, models)
            return _serve(lake, readable, serving_dir, publication, grace_seconds, started)
        finally:
            if readable.frozen:  # a publish that failed: its copy (gone once served)
                readable.sqlite_path.unlink(missing_ok=True)


def rollback(
    lake: Lake,
    serving_dir: Path,
    tables: TableCatalog | None = None,
    grace_seconds: float = GRACE_SECONDS,
) -> PublishResult:
    """Serve the publish before the one served now, and record the rollback."""
    tables = tables or TableCatalog.beside(lake.location)
    started = time.perf_counter()
    target = publications.previous_publish(publications.history(lake))
    if target is None:
        raise LakeError(
            f"nothing to roll back to: the lake {lake.url} has no publish before the one "
            "served (`lakehouse serving status` shows the history)"
        )
    publication = Publication.new(publications.ROLLBACK, target.lake_snapshot_id, target.models)
    with _publish_lock(Path(serving_dir)):
        return _serve(lake, tables, Path(serving_dir), publication, grace_seconds, started)


def reattach(lake: Lake, serving_dir: Path, tables: TableCatalog | None = None) -> Path:
    """Serve the publication served now from the lake where it is now. A serving catalog
    names its lake by absolute path: after a data folder is moved or copied, its catalog still
    reads the lake at the old place. Nothing is recorded: the same publication is served."""
    tables = tables or TableCatalog.beside(lake.location)
    publication = publications.served(lake)
    if publication is None:
        raise LakeError(f"the lake {lake.url} has never been published: nothing to reattach")
    with _publish_lock(Path(serving_dir)):
        target = _catalogs(Path(serving_dir)) / f"{publication.publication_id}.duckdb"
        _write_catalog(target, _readable_copy(tables, target), publication)
        _point_at(catalog_path(serving_dir), target)
    return catalog_path(serving_dir)


def oldest_frozen_copy(serving_dir: Path) -> datetime | None:
    """When the oldest frozen catalog a reader may still open was taken: the lake's files
    dropped since then may be read through it (maintenance keeps them)."""
    catalogs = Path(serving_dir) / CATALOGS
    if not catalogs.is_dir():
        return None
    times = [p.stat().st_mtime for p in catalogs.iterdir() if p.name.endswith(COPY_SUFFIX)]
    return datetime.fromtimestamp(min(times), UTC) if times else None


def _catalogs(serving_dir: Path) -> Path:
    catalogs = serving_dir.resolve() / CATALOGS
    catalogs.mkdir(parents=True, exist_ok=True)
    return catalogs


def _copy_path(catalog: Path) -> Path:
    """The frozen lake catalog beside a serving catalog: `<publication>.lake.sqlite`."""
    return catalog.with_name(catalog.stem + COPY_SUFFIX)


def _readable_copy(tables: TableCatalog, catalog: Path) -> TableCatalog:
    """What the serving catalog's views attach: a frozen copy of a SQLite catalog named after
    it (already taken, or taken now), or a PostgreSQL catalog itself."""
    if tables.frozen:
        return moved(tables, _copy_path(catalog))
    return freeze(tables, _copy_path(catalog))


def _serve(
    lake: Lake,
    tables: TableCatalog,
    serving_dir: Path,
    publication: Publication,
    grace_seconds: float,
    started: float,
) -> PublishResult:
    """Write the publication's catalog and serve it (the publish lock held)."""
    catalogs = _catalogs(serving_dir)
    target = catalogs / f"{publication.publication_id}.duckdb"
    _write_catalog(target, _readable_copy(tables, target), publication)
    # recorded before it is served: snapshot expiry keeps what is recorded
    publications.record(lake, publication)
    _point_at(catalog_path(serving_dir), target)
    pruned = _prune(catalogs, target, KEEP_CATALOGS, grace_seconds)
    result = PublishResult(
        catalog_path=catalog_path(serving_dir),
        snapshot_id=publication.publication_id,
        models=publication.models,
        lake_snapshot=publication.lake_snapshot_id,
        action=publication.action,
        pruned_catalogs=pruned,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "%s: gold served as of DuckLake snapshot %d (%d marts, %d rows) in %.2fs",
        publication.action,
        publication.lake_snapshot_id,
        len(publication.models),
        sum(publication.models.values()),
        result.seconds,
    )
    return result


@contextmanager
def _reader(
    lake: Lake, tables: TableCatalog, snapshot: int | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    try:
        con = connect(tables, read_only=True, snapshot=snapshot)
    except CatalogError as exc:
        raise LakeError(f"{exc} (run the dbt build first)") from exc
    try:
        yield con
    finally:
        con.close()


def _rows_per_mart(con: duckdb.DuckDBPyConnection, snapshot: int, lake: Lake) -> dict[str, int]:
    marts = tables_in(con, GOLD_SCHEMA)
    if not marts:
        raise LakeError(f"the lake {lake.url} holds no gold table: run the dbt build first")
    rows = {}
    for mart in marts:
        (count,) = con.execute(f"select count(*) from {_pinned(mart, snapshot)}").fetchone()
        rows[mart] = int(count)
    return rows


def _pinned(mart: str, snapshot: int) -> str:
    return f'{ALIAS}.{GOLD_SCHEMA}."{mart}" at (version => {int(snapshot)})'


@contextmanager
def _publish_lock(serving_dir: Path) -> Iterator[None]:
    serving_dir.mkdir(parents=True, exist_ok=True)
    with open(serving_dir / ".publish.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_catalog(final: Path, tables: TableCatalog, publication: Publication) -> None:
    """The catalog of views pinned to the publication's snapshot, written under a temporary
    name then renamed. Creating a view binds it: the DuckLake is attached meanwhile."""
    temporary = final.with_name(f"{TMP_PREFIX}{final.name}")
    attach = tables.attach_sql(read_only=True)
    try:
        connection = duckdb.connect(str(temporary), config={"autoinstall_known_extensions": False})
        try:
            add_secrets(connection, tables)  # temporary: not stored in the file
            connection.execute(attach)
            connection.execute(f"create schema {SCHEMA}")
            for mart in publication.models:
                connection.execute(
                    f'create view {SCHEMA}."{mart}" as '
                    f"select * from {_pinned(mart, publication.lake_snapshot_id)}"
                )
            connection.execute(
                f"create table {SCHEMA}.{PUBLICATION_TABLE} ("
                "snapshot_id varchar, published_at timestamp, model_name varchar, "
                "row_count bigint, lake_snapshot_id bigint)"
            )
            published_at = datetime.fromisoformat(publication.published_at).replace(tzinfo=None)
            connection.executemany(
                f"insert into {SCHEMA}.{PUBLICATION_TABLE} values (?, ?, ?, ?, ?)",
                [
                    (
                        publication.publication_id,
                        published_at,
                        mart,
                        rows,
                        publication.lake_snapshot_id,
                    )
                    for mart, rows in publication.models.items()
                ],
            )
            connection.execute(f"create schema {META_SCHEMA}")
            connection.execute(
                f"create table {META_SCHEMA}.{ATTACHMENT_TABLE} as select ? as statement",
                [attach],
            )
            connection.execute(f"detach {ALIAS}")
            connection.execute("checkpoint")
        finally:
            connection.close()
        os.replace(temporary, final)
    finally:
        for leftover in (temporary, Path(f"{temporary}.wal")):
            leftover.unlink(missing_ok=True)


def _point_at(link: Path, target: Path) -> None:
    """Atomically make `link` a relative symbolic link to `target`."""
    temporary = link.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}-{link.name}")
    temporary.symlink_to(os.path.relpath(target, link.parent))
    try:
        os.replace(temporary, link)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def _prune(catalogs: Path, served: Path, keep: int, grace_seconds: float) -> list[str]:
    """Delete catalogs older than the `keep` newest once superseded for `grace_seconds`
    (a query that opened an older catalog may still be reading through it), with their
    frozen lake catalogs, and leftovers of failed publishes. Only catalogs: the lake's
    snapshots are maintenance's business."""
    now = time.time()
    files = sorted(p for p in catalogs.iterdir() if p.suffix == ".duckdb")
    doomed = [p for p in files if p.name.startswith(TMP_PREFIX)]
    finished = [p for p in files if not p.name.startswith(TMP_PREFIX) and p != served]
    finished.append(served)
    for older, newer in list(pairwise(finished))[: max(len(finished) - keep, 0)]:
        if now - newer.stat().st_mtime >= grace_seconds:
            doomed.append(older)
    kept_copies = {_copy_path(p) for p in finished if p not in doomed}
    copies = [p for p in catalogs.iterdir() if p.name.endswith(COPY_SUFFIX)]
    for path in [*doomed, *(p for p in copies if p not in kept_copies)]:
        path.unlink(missing_ok=True)
    return [p.stem for p in doomed]


def attach_served_lake(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Attach the DuckLake a serving catalog's views read (once per process and catalog:
    DuckDB shares an open database between the connections of a process)."""
    for (statement,) in con.execute(
        f"select statement from {META_SCHEMA}.{ATTACHMENT_TABLE}"
    ).fetchall():
        con.execute(statement)
    return con


def open_served(path: Path, tables: TableCatalog | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a serving catalog whose views can be queried. `tables`: the
    lake's DuckLake, whose secrets (a PostgreSQL catalog's password, a bucket's S3 keys)
    the stored attachment does not hold; not needed for a local lake with a SQLite catalog."""
    # no config: a process shares one database per file only between connections opened
    # with the same settings (Superset's and this one differ anyway: separate processes)
    con = duckdb.connect(str(path), read_only=True)
    try:
        if tables is not None:
            add_secrets(con, tables)
        return attach_served_lake(con)
    except (duckdb.Error, CatalogError):
        con.close()
        raise


def current_snapshot(serving_dir: Path) -> str | None:
    """The publication the served catalog shows (None before the first publish)."""
    path = catalog_path(serving_dir)
    if not path.exists():
        return None
    with duckdb.connect(str(path), read_only=True) as connection:
        row = connection.execute(
            f"select max(snapshot_id) from {SCHEMA}.{PUBLICATION_TABLE}"
        ).fetchone()
    return row[0] if row else None
