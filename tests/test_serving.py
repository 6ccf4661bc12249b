"""Publishing gold to the serving catalog: views pinned to the published DuckLake snapshot,
the atomic swap, rollback, readers during rebuilds.

The gold layer here is written the way dbt writes it on DuckDB (tables of the lake's
DuckLake replaced in one transaction), so the tests exercise the same operations as a real
rebuild without paying for one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lake import LakeError, open_lake, parse_lake_url
from lake.tables.catalog import ALIAS, TableCatalog, connect
from lake.tables.catalog import current_snapshot as lake_snapshot
from lake.tables.maintenance import Retention, maintain
from lake.tables.publications import history, published_snapshots
from orchestration.bi import superset_executable
from orchestration.lake_command import maintain_lake
from orchestration.settings import Settings
from serving.duckdb_catalog import (
    SCHEMA,
    catalog_path,
    current_snapshot,
    oldest_frozen_copy,
    open_served,
    publish_gold,
    rollback,
)


def write_gold(lake_root: Path, revenue_rows: int, order_rows: int) -> None:
    """Rebuild gold like dbt on DuckDB: each mart replaced as a table of the lake's DuckLake
    (the catalog beside the lake, the data files under gold/)."""
    tables = TableCatalog.beside(parse_lake_url(str(lake_root)))
    con = connect(tables)
    try:
        con.execute(f"create schema if not exists {ALIAS}.marts")
        con.execute(
            f"""
            create or replace table {ALIAS}.marts.daily_revenue as
            select
                date '2026-01-01' + cast(range % 60 as integer) as order_date,
                ['DE', 'FR', 'US'][1 + range % 3] as country_code,
                'toys' as product_category,
                cast(range as decimal(18, 2)) as revenue_reporting,
                cast(extract(year from date '2026-01-01' + cast(range % 60 as integer))
                    as integer) as order_year,
                cast(extract(month from date '2026-01-01' + cast(range % 60 as integer))
                    as integer) as order_month
            from range({revenue_rows})
            """
        )
        con.execute(
            f"create or replace table {ALIAS}.marts.fct_orders as "
            f"select range as order_id from range({order_rows})"
        )
    finally:
        con.close()


def merge_orders(lake_root: Path, deleted: int, inserted: int) -> None:
    """Change fct_orders like dbt's incremental delete+insert: `deleted` rows spread over
    its files deleted and `inserted` new ones added, in one transaction."""
    tables = TableCatalog.beside(parse_lake_url(str(lake_root)))
    con = connect(tables)
    try:
        con.execute("begin")
        con.execute(
            f"delete from {ALIAS}.marts.fct_orders where order_id in "
            f"(select order_id from {ALIAS}.marts.fct_orders order by hash(order_id) "
            f"limit {int(deleted)})"
        )
        con.execute(
            f"insert into {ALIAS}.marts.fct_orders select max_id + range from range(1, "
            f"{int(inserted) + 1}), (select max(order_id) as max_id from {ALIAS}.marts.fct_orders)"
        )
        con.execute("commit")
    finally:
        con.close()


def read_catalog(path: Path) -> dict[str, int]:
    with open_served(path) as con:
        return {
            model: con.execute(f"select count(*) from {SCHEMA}.{model}").fetchone()[0]
            for model in ("daily_revenue", "fct_orders")
        }


@pytest.fixture
def lake_with_gold(tmp_path):
    root = tmp_path / "lake"
    write_gold(root, revenue_rows=120, order_rows=50)
    return open_lake(str(root))


def lake_snapshot_now(lake) -> int:
    with connect(TableCatalog.beside(lake.location), read_only=True) as con:
        return lake_snapshot(con)


def test_publish_serves_every_mart_pinned_to_the_published_snapshot(lake_with_gold, tmp_path):
    serving = tmp_path / "serving"
    result = publish_gold(lake_with_gold, serving)

    assert result.catalog_path == catalog_path(serving) == serving / "gold.duckdb"
    assert result.models == {"daily_revenue": 120, "fct_orders": 50}
    assert result.lake_snapshot == lake_snapshot_now(lake_with_gold)
    assert read_catalog(result.catalog_path) == result.models
    with open_served(result.catalog_path) as con:
        rows = con.execute(
            f"select order_month, count(*) from {SCHEMA}.daily_revenue group by 1 order by 1"
        ).fetchall()
        assert rows == [(1, 62), (2, 56), (3, 2)]
        publication = con.execute(
            f"select snapshot_id, model_name, row_count, lake_snapshot_id "
            f"from {SCHEMA}.gold_publication order by model_name"
        ).fetchall()
        # no copy: each view reads the DuckLake table as of the published snapshot
        (definition,) = con.execute(
            "select sql from duckdb_views() where view_name = 'fct_orders'"
        ).fetchone()
    assert f"FROM lake.marts.fct_orders AT (VERSION => {result.lake_snapshot})" in definition
    assert publication == [
        (result.snapshot_id, "daily_revenue", 120, result.lake_snapshot),
        (result.snapshot_id, "fct_orders", 50, result.lake_snapshot),
    ]
    assert current_snapshot(serving) == result.snapshot_id
    # the publication is recorded in the lake, with the snapshot expiry must keep
    assert [(p.action, p.lake_snapshot_id) for p in history(lake_with_gold)] == [
        ("publish", result.lake_snapshot)
    ]
    assert published_snapshots(lake_with_gold) == [result.lake_snapshot]
    # the served name is a link to the publication's catalog, a small file, beside a frozen
    # copy of the lake's catalog (lake/tables/frozen.py) that the views attach: no Parquet
    target = result.catalog_path.resolve()
    assert target == serving / "catalogs" / f"{result.snapshot_id}.duckdb"
    copy = serving / "catalogs" / f"{result.snapshot_id}.lake.sqlite"
    assert sorted(str(p.relative_to(serving)) for p in serving.rglob("*")) == [
        ".publish.lock",
        "catalogs",
        f"catalogs/{result.snapshot_id}.duckdb",
        f"catalogs/{result.snapshot_id}.lake.sqlite",
        "gold.duckdb",
    ]
    assert target.stat().st_size < 2_000_000 and copy.stat().st_size < 2_000_000
    with open_served(result.catalog_path) as con:
        (statement,) = con.execute("select statement from _serving.lake_attachment").fetchone()
    assert f"ducklake:sqlite:{copy}" in statement and "READ_ONLY" in statement


def test_the_published_snapshot_survives_the_rebuild_of_gold(lake_with_gold, tmp_path):
    first = publish_gold(lake_with_gold, tmp_path / "serving")
    write_gold(Path(lake_with_gold.location.root), revenue_rows=30, order_rows=7)
    # the lake's latest tables changed; the served views still answer as of the publish
    assert read_catalog(first.catalog_path) == {"daily_revenue": 120, "fct_orders": 50}
    second = publish_gold(lake_with_gold, tmp_path / "serving")
    assert second.models == {"daily_revenue": 30, "fct_orders": 7}
    assert second.lake_snapshot > first.lake_snapshot
    assert read_catalog(second.catalog_path) == second.models


def test_publish_as_of_the_end_of_a_build_ignores_later_commits(lake_with_gold, tmp_path):
    built_at = datetime.now(UTC)
    built = lake_snapshot_now(lake_with_gold)
    time.sleep(0.05)
    # a build that started since, half done: fct_orders rebuilt, daily_revenue not yet
    with connect(TableCatalog.beside(lake_with_gold.location)) as con:
        con.execute(f"create or replace table {ALIAS}.marts.fct_orders as select 1 as order_id")
    result = publish_gold(lake_with_gold, tmp_path / "serving", built_at=built_at)
    assert result.lake_snapshot == built
    assert read_catalog(result.catalog_path) == {"daily_revenue": 120, "fct_orders": 50}


def test_rollback_serves_the_previous_publish_and_records_it(lake_with_gold, tmp_path):
    serving = tmp_path / "serving"
    first = publish_gold(lake_with_gold, serving)
    write_gold(Path(lake_with_gold.location.root), revenue_rows=30, order_rows=7)
    second = publish_gold(lake_with_gold, serving)
    # a connection of this process still open on the second catalog
    early_reader = open_served(second.catalog_path)

    back = rollback(lake_with_gold, serving)
    assert (back.action, back.lake_snapshot) == ("rollback", first.lake_snapshot)
    assert read_catalog(catalog_path(serving)) == {"daily_revenue": 120, "fct_orders": 50}
    assert early_reader.execute(f"select count(*) from {SCHEMA}.fct_orders").fetchone() == (7,)
    early_reader.close()
    assert [(p.action, p.lake_snapshot_id) for p in history(lake_with_gold)] == [
        ("publish", first.lake_snapshot),
        ("publish", second.lake_snapshot),
        ("rollback", first.lake_snapshot),
    ]
    # both published snapshots stay protected from expiry; nothing before the first
    assert published_snapshots(lake_with_gold) == [first.lake_snapshot, second.lake_snapshot]
    with pytest.raises(LakeError, match="nothing to roll back to"):
        rollback(lake_with_gold, serving)
    assert read_catalog(catalog_path(serving)) == {"daily_revenue": 120, "fct_orders": 50}
    # the next publish serves the lake's latest snapshot again
    third = publish_gold(lake_with_gold, serving)
    assert third.lake_snapshot == second.lake_snapshot
    assert read_catalog(catalog_path(serving)) == {"daily_revenue": 30, "fct_orders": 7}


def test_superset_opens_the_catalog_the_link_named_even_if_a_publish_moves_it_meanwhile(
    lake_with_gold, tmp_path
):
    """Superset's connect hook (superset/served_lake.py) resolves the served link and keeps
    that catalog's attachment statements. A publish that moves the link between the
    resolving and the connecting (a race on a busy server; forced here) must not open the
    new catalog with the old one's lake copy: its views pin a snapshot that copy lacks."""
    serving = tmp_path / "serving"
    link = catalog_path(serving)
    publish_gold(lake_with_gold, serving)
    first = os.path.realpath(link)  # the catalog files the link named
    write_gold(Path(lake_with_gold.location.root), revenue_rows=30, order_rows=7)
    publish_gold(lake_with_gold, serving)
    second = os.path.realpath(link)
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, "superset")
        import served_lake
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        served_lake.install()
        link, first, second = {str(link)!r}, {first!r}, {second!r}

        def point_at(target):
            os.symlink(target, link + ".new")
            os.replace(link + ".new", link)

        def count():
            engine = create_engine(
                "duckdb:///" + link, connect_args={{"read_only": True}}, poolclass=NullPool
            )
            with engine.connect() as con:
                return con.execute(text("select count(*) from analytics.fct_orders")).scalar()

        point_at(first)
        answers = [count()]  # the first catalog, its lake attached and kept
        resolve = os.path.realpath

        def resolve_then_publish(path):
            resolved = resolve(path)
            point_at(second)  # the publish lands right after the hook resolved the link
            return resolved

        os.path.realpath = resolve_then_publish
        answers.append(count())
        os.path.realpath = resolve
        answers.append(count())  # the link's new catalog
        print(answers)
    """)
    done = subprocess.run(
        [str(superset_executable("python")), "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[50, 50, 7]"


def test_a_moved_data_folder_serves_again_once_reattached(tmp_path):
    """A serving catalog names its lake by absolute path: once the folder moved it reads
    nothing, until `lakehouse serving reattach` serves the same publication from the lake
    where it is now."""
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    write_gold(old / "lake", revenue_rows=120, order_rows=50)
    published = publish_gold(open_lake(str(old / "lake")), old / "serving")
    old.rename(new)
    with pytest.raises(Exception, match="old"):  # the catalog still attaches the old place
        read_catalog(catalog_path(new / "serving"))

    env = {**os.environ, "DATA_DIR": str(new)}
    lakehouse = str(Path(sys.executable).parent / "lakehouse")
    done = subprocess.run(
        [lakehouse, "serving", "reattach"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert read_catalog(catalog_path(new / "serving")) == {"daily_revenue": 120, "fct_orders": 50}
    lake = open_lake(str(new / "lake"))
    assert [p.publication_id for p in history(lake)] == [published.snapshot_id]  # nothing new
    assert current_snapshot(new / "serving") == published.snapshot_id


def test_superseded_catalogs_are_kept_for_the_grace_period(lake_with_gold, tmp_path):
    serving = tmp_path / "serving"
    ids = [publish_gold(lake_with_gold, serving).snapshot_id for _ in range(3)]

    def files() -> list[str]:
        return sorted(p.name for p in (serving / "catalogs").iterdir())

    assert files() == sorted(f"{i}{suffix}" for i in ids for suffix in (".duckdb", ".lake.sqlite"))
    last = publish_gold(lake_with_gold, serving, grace_seconds=0)
    assert last.pruned_catalogs == ids[:2]
    assert files() == sorted(
        f"{i}{suffix}" for i in (ids[2], last.snapshot_id) for suffix in (".duckdb", ".lake.sqlite")
    )


def test_publish_without_gold_says_to_run_dbt(tmp_path):
    lake = open_lake(str(tmp_path / "empty-lake"))
    with pytest.raises(LakeError, match=r"catalog .* does not exist yet: run a build"):
        publish_gold(lake, tmp_path / "serving")
    assert not catalog_path(tmp_path / "serving").exists()
    assert history(lake) == []


READER = textwrap.dedent(
    """
    import json, os, sys, time
    from serving.duckdb_catalog import open_served

    path, seconds = sys.argv[1], float(sys.argv[2])
    reads, errors, seen, kept = 0, [], set(), {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            # a fresh connection per query, as Superset opens one per chart request, and
            # one kept open per catalog file, as Superset's connect hook does
            target = os.path.realpath(path)
            if target not in kept:
                kept[target] = open_served(target)
            with open_served(path) as con:
                answer = tuple(
                    con.execute(f"select count(*) from analytics.{model}").fetchone()[0]
                    for model in ("daily_revenue", "fct_orders")
                )
            seen.add(answer)
            reads += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"reads": reads, "errors": errors[:5], "error_count": len(errors),
                      "seen": sorted(seen)}))
    """
)


@pytest.mark.integration
def test_readers_see_only_published_snapshots_and_never_fail_while_gold_is_rebuilt(
    lake_with_gold, tmp_path
):
    serving = tmp_path / "serving"
    publish_gold(lake_with_gold, serving)
    published = {(120, 50)}
    script = tmp_path / "reader.py"
    script.write_text(READER)
    root = Path(__file__).resolve().parent.parent
    readers = [
        subprocess.Popen(
            [sys.executable, str(script), str(catalog_path(serving)), "20"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        for _ in range(2)
    ]
    publishes = 0
    # each rebuild and publish opens the DuckLake (DuckDB checks the extensions' signatures
    # on every load, about 0.3 s each): 5-8 of them while the readers read on a quiet
    # machine, at least 2 on a busy one
    deadline = time.monotonic() + 18
    while time.monotonic() < deadline and publishes < 8:
        # what the pipeline does: dbt changes gold, then gold is published. A rebuild
        # (one mart, then the other: a half-built run is visible in the lake meanwhile)
        # alternates with incremental merges: deletes in files that have deletes already
        # make DuckLake rewrite their delete files, which pinned readers must not see
        if publishes % 3 == 0:
            write_gold(Path(lake_with_gold.location.root), 100 + publishes, 9_000 + publishes)
        else:  # more rows than DuckLake inlines into its catalog: files, as dbt's merges
            merge_orders(Path(lake_with_gold.location.root), deleted=700, inserted=1_400)
            merge_orders(Path(lake_with_gold.location.root), deleted=300, inserted=500)
        published.add(tuple(publish_gold(lake_with_gold, serving).models.values()))
        publishes += 1
    outcomes = [json.loads(reader.communicate(timeout=60)[0]) for reader in readers]

    assert publishes >= 2
    for outcome in outcomes:
        assert outcome["error_count"] == 0, outcome["errors"]
        assert outcome["reads"] >= 20, outcome
        assert {tuple(answer) for answer in outcome["seen"]} <= published, outcome["seen"]
        assert len(outcome["seen"]) >= 2  # the readers saw publishes happen
    # every catalog a reader may still hold is kept (the grace period), with its frozen copy
    assert len(list((serving / "catalogs").iterdir())) == 2 * (publishes + 1)


def _files_read(catalog: TableCatalog, table: str, snapshot: int) -> set[str]:
    """The data and delete files a catalog reads for a gold table at a snapshot."""
    with connect(catalog, read_only=True) as con:
        rows = con.execute(
            "select data_file, delete_file from ducklake_list_files(?, ?, schema => 'marts', "
            "snapshot_version => ?)",
            [ALIAS, table, snapshot],
        ).fetchall()
    return {path for row in rows for path in row if path}


def _dropped_days_ago(lake_root: Path, days: float) -> None:
    """Date back when the lake's catalog dropped the files scheduled for deletion (as if
    the merges had run `days` ago; kept as text, as DuckLake writes it to SQLite)."""
    at = datetime.now(UTC) - timedelta(days=days)
    with sqlite3.connect(f"{lake_root}.sqlite") as con:
        con.execute(
            "update ducklake_files_scheduled_for_deletion set schedule_start = ?",
            [at.strftime("%Y-%m-%d %H:%M:%S.%f+00")],
        )


def test_maintenance_keeps_the_files_a_served_frozen_catalog_reads(tmp_path):
    """The views read a frozen copy of the lake's catalog. Merges after the publish replace
    delete files it names, and the live catalog schedules those for deletion; maintenance
    (`lakehouse lake maintain`'s) keeps them while the copy may be read, and deletes them
    once it is no longer served."""
    settings = Settings.from_env({"DATA_DIR": str(tmp_path)})
    root, serving = tmp_path / "lake", settings.serving_dir
    write_gold(root, revenue_rows=120, order_rows=9_000)
    lake = open_lake(str(root))
    merge_orders(root, deleted=500, inserted=1_000)  # fct_orders: files with deletes
    served = publish_gold(lake, serving)
    copy = TableCatalog(
        f"sqlite:{serving}/catalogs/{served.snapshot_id}.lake.sqlite", f"{root}/", frozen=True
    )
    merge_orders(root, deleted=600, inserted=800)  # deletes in those files again
    live = TableCatalog.beside(lake.location)
    dropped = _files_read(copy, "fct_orders", served.lake_snapshot) - _files_read(
        live, "fct_orders", lake_snapshot_now(lake)
    )
    assert dropped  # delete files the served copy reads and the live catalog no longer does
    # the copy was taken three days ago, the merge dropped those files two days ago
    three_days_ago = time.time() - 3 * 86_400
    os.utime(copy.sqlite_path, (three_days_ago, three_days_ago))
    _dropped_days_ago(root, 2)

    report = maintain_lake(settings, retention_days=0)
    assert report.deleted_files == 0
    assert all(Path(path).exists() for path in dropped)
    assert read_catalog(catalog_path(serving)) == served.models

    # once newer publishes are served and the old one's grace is over, they go
    publish_gold(lake, serving)
    publish_gold(lake, serving, grace_seconds=0)
    assert oldest_frozen_copy(serving) > datetime.now(UTC) - timedelta(minutes=5)
    report = maintain_lake(settings, retention_days=0)
    assert report.deleted_files == len(dropped)
    assert not any(Path(path).exists() for path in dropped)


def test_maintenance_keeps_files_dropped_within_the_grace_period(tmp_path):
    """DuckLake compares the time a file was dropped as text on a SQLite catalog, where
    every file dropped the same day counted as older than the grace period."""
    root = tmp_path / "lake"
    write_gold(root, revenue_rows=120, order_rows=9_000)
    merge_orders(root, deleted=500, inserted=1_000)
    merge_orders(root, deleted=600, inserted=800)  # drops the first merge's delete file
    lake, live = open_lake(str(root)), TableCatalog.beside(parse_lake_url(str(root)))
    _dropped_days_ago(root, 10 / 1440)  # ten minutes ago
    assert maintain(lake, live, Retention(grace_seconds=1200)).deleted_files == 0
    # a day and a half ago: past a one-hour grace, and before the start of today
    _dropped_days_ago(root, 1.5)
    assert maintain(lake, live, Retention(grace_seconds=3600)).deleted_files == 1
