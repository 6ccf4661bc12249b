"""Publishing gold to the serving catalog: snapshots, the atomic swap, readers during rebuilds.

The gold layer here is written the way dbt writes it on DuckDB (tables of the lake's
DuckLake replaced in one transaction), so the tests exercise the same operations as a real
rebuild without paying for one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from lake import LakeError, open_lake, parse_lake_url
from lake.serving import SCHEMA, catalog_path, current_snapshot, publish_gold
from lake.tables.catalog import ALIAS, TableCatalog, connect
from lake.tables.catalog import current_snapshot as lake_snapshot


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


def read_catalog(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            model: con.execute(f"select count(*) from {SCHEMA}.{model}").fetchone()[0]
            for model in ("daily_revenue", "fct_orders")
        }


@pytest.fixture
def lake_with_gold(tmp_path):
    root = tmp_path / "lake"
    write_gold(root, revenue_rows=120, order_rows=50)
    return open_lake(str(root))


def test_publish_serves_every_mart_as_a_view_over_a_snapshot(lake_with_gold, tmp_path):
    serving = tmp_path / "serving"
    result = publish_gold(lake_with_gold, serving)

    assert result.catalog_path == catalog_path(serving) == serving / "gold.duckdb"
    assert result.models == {"daily_revenue": 120, "fct_orders": 50}
    assert result.snapshot_dir.parent == serving / "snapshots"
    assert result.exported_files > 0
    with connect(TableCatalog.beside(lake_with_gold.location), read_only=True) as con:
        assert result.lake_snapshot == lake_snapshot(con)  # the DuckLake snapshot it froze
    assert read_catalog(result.catalog_path) == result.models
    with duckdb.connect(str(result.catalog_path), read_only=True) as con:
        rows = con.execute(
            f"select order_month, count(*) from {SCHEMA}.daily_revenue group by 1 order by 1"
        ).fetchall()
        assert rows == [(1, 62), (2, 56), (3, 2)]
        publication = con.execute(
            f"select snapshot_id, model_name, row_count from {SCHEMA}.gold_publication "
            "order by model_name"
        ).fetchall()
    assert publication == [
        (result.snapshot_id, "daily_revenue", 120),
        (result.snapshot_id, "fct_orders", 50),
    ]
    assert current_snapshot(serving) == result.snapshot_id
    # the served name is a link to the snapshot's own catalog; nothing temporary left behind
    assert result.catalog_path.resolve() == result.snapshot_dir / "catalog.duckdb"
    assert sorted(p.name for p in serving.iterdir()) == [
        ".publish.lock",
        "gold.duckdb",
        "snapshots",
    ]
    assert sorted(p.name for p in result.snapshot_dir.iterdir()) == [
        "catalog.duckdb",
        "daily_revenue",
        "fct_orders",
    ]


def test_a_snapshot_survives_the_rebuild_of_gold(lake_with_gold, tmp_path):
    first = publish_gold(lake_with_gold, tmp_path / "serving")
    write_gold(Path(lake_with_gold.location.root), revenue_rows=30, order_rows=7)
    # the catalog still answers with the numbers of the publish, from its own files
    assert read_catalog(first.catalog_path) == {"daily_revenue": 120, "fct_orders": 50}
    second = publish_gold(lake_with_gold, tmp_path / "serving")
    assert second.models == {"daily_revenue": 30, "fct_orders": 7}
    assert read_catalog(second.catalog_path) == second.models


def test_republish_swaps_the_catalog_and_keeps_the_previous_snapshot(lake_with_gold, tmp_path):
    serving = tmp_path / "serving"
    first = publish_gold(lake_with_gold, serving, grace_seconds=0)
    # a connection opened before the swap keeps reading its (previous) snapshot
    early_reader = duckdb.connect(str(first.catalog_path), read_only=True)

    write_gold(Path(lake_with_gold.location.root), revenue_rows=10, order_rows=5)
    second = publish_gold(lake_with_gold, serving, grace_seconds=0)
    assert second.catalog_path.resolve() == second.snapshot_dir / "catalog.duckdb"
    assert second.snapshot_dir != first.snapshot_dir
    assert early_reader.execute(f"select count(*) from {SCHEMA}.fct_orders").fetchone() == (50,)
    # a new connection of the same process sees the new publish, although the early one is
    # still open (DuckDB would hand out its cached instance for a file replaced in place)
    assert read_catalog(second.catalog_path) == {"daily_revenue": 10, "fct_orders": 5}

    third = publish_gold(lake_with_gold, serving, grace_seconds=0)
    assert third.pruned_snapshots == [first.snapshot_id]
    snapshots = sorted(p.name for p in (serving / "snapshots").iterdir())
    assert snapshots == [second.snapshot_id, third.snapshot_id]
    early_reader.close()


def test_superseded_snapshots_are_kept_for_the_grace_period(lake_with_gold, tmp_path):
    serving = tmp_path / "serving"
    ids = [publish_gold(lake_with_gold, serving).snapshot_id for _ in range(4)]
    assert sorted(p.name for p in (serving / "snapshots").iterdir()) == ids
    last = publish_gold(lake_with_gold, serving, grace_seconds=0)
    assert last.pruned_snapshots == ids[:3]


def test_publish_without_gold_says_to_run_dbt(tmp_path):
    lake = open_lake(str(tmp_path / "empty-lake"))
    with pytest.raises(LakeError, match=r"catalog .* does not exist yet: run a build"):
        publish_gold(lake, tmp_path / "serving")
    assert not catalog_path(tmp_path / "serving").exists()


READER = textwrap.dedent(
    """
    import json, sys, time
    import duckdb

    path, seconds = sys.argv[1], float(sys.argv[2])
    reads, errors = 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            # a fresh connection per query, as Superset opens one per chart request
            with duckdb.connect(path, read_only=True) as con:
                for model in ("daily_revenue", "fct_orders"):
                    con.execute(f"select sum(1) from analytics.{model}").fetchall()
            reads += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"reads": reads, "errors": errors[:5], "error_count": len(errors)}))
    """
)


@pytest.mark.integration
def test_readers_never_meet_a_lock_or_a_missing_file_while_gold_is_rebuilt(
    lake_with_gold, tmp_path
):
    serving = tmp_path / "serving"
    publish_gold(lake_with_gold, serving)
    script = tmp_path / "reader.py"
    script.write_text(READER)
    readers = [
        subprocess.Popen(
            [sys.executable, str(script), str(catalog_path(serving)), "20"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    publishes = 0
    # each rebuild and publish opens the DuckLake (DuckDB checks the extensions' signatures
    # on every load, about 0.3 s each): at least 5 of them while the readers read
    deadline = time.monotonic() + 18
    while time.monotonic() < deadline and publishes < 8:
        # what the pipeline does: dbt rewrites gold, then gold is published
        write_gold(Path(lake_with_gold.location.root), 100 + publishes, 40 + publishes)
        publish_gold(lake_with_gold, serving)
        publishes += 1
    outcomes = [json.loads(reader.communicate(timeout=60)[0]) for reader in readers]

    assert publishes >= 5
    for outcome in outcomes:
        assert outcome["error_count"] == 0, outcome["errors"]
        assert outcome["reads"] >= 20, outcome
    # every snapshot a reader may still hold is kept (the grace period)
    assert len(list((serving / "snapshots").iterdir())) == publishes + 1
