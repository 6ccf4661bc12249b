"""`lakehouse demo`: quiet output with the full logs in a file, and no source changed before
the lake and the warehouse are known to be usable."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from datagen.generate import GenerationRequest, generate
from lake import LakeError
from orchestration.demo import demo_report_path, run_demo
from orchestration.pipeline import INGEST, PUBLISH, TRANSFORM
from orchestration.settings import REPO_ROOT, Settings
from orchestration.summary import DemoReport
from orchestration.warehouse_check import WarehouseError

MAX_LINES = 60
SCALE = "0.002"


def _settings(data_dir: Path, **env: str) -> Settings:
    return Settings.from_env(
        {"DATA_DIR": str(data_dir), "DATAGEN_SCALE": SCALE, "DATAGEN_SEED": "7", **env}
    )


def _orders(settings: Settings) -> tuple:
    path = settings.oltp_dsn.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return conn.execute("select count(*), max(updated_at) from orders").fetchone()


@pytest.fixture
def generated(tmp_path) -> Settings:
    settings = _settings(tmp_path / "data")
    generate(
        GenerationRequest(settings.scale, settings.seed, settings.oltp_dsn, settings.landing_url)
    )
    return settings


def test_an_unusable_lake_stops_the_demo_before_the_shop_changes(generated, tmp_path):
    before = _orders(generated)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = _settings(generated.data_dir, LAKE_URL=str(blocker / "lake"))

    with pytest.raises(LakeError, match="a-file"):
        run_demo(settings, quiet=True)

    assert _orders(generated) == before  # no change set applied that no sync will see


def test_an_unusable_warehouse_stops_the_demo_before_the_shop_changes(generated, tmp_path):
    before = _orders(generated)
    folder = tmp_path / "warehouse-is-a-folder"
    folder.mkdir()
    settings = _settings(generated.data_dir, DUCKDB_PATH=str(folder))

    with pytest.raises(WarehouseError, match="warehouse-is-a-folder"):
        run_demo(settings, quiet=True)

    assert _orders(generated) == before


@pytest.mark.integration
def test_the_demo_prints_one_line_per_stage_and_logs_the_detail_to_a_file(tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "DATAGEN_SCALE": SCALE}
    env.pop("COLUMNS", None)
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "demo"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    lines = output.splitlines()
    assert len(lines) <= MAX_LINES, output
    for stage in (INGEST, TRANSFORM, PUBLISH):
        assert sum(stage in line and line.startswith("✓") for line in lines) == 1, stage
    assert "dbt build: models" in output and "Rows per layer" in output
    assert "WARNING" not in output and "Running dbt command" not in output

    log_path = Path(re.search(r"full logs: (\S+)", output).group(1))
    assert log_path.parent == tmp_path / "data" / "logs"
    log = log_path.read_text(encoding="utf-8")
    # the detail is in the file: Dagster's steps, the dbt command and dbt's own summary
    assert "Running dbt command" in log and "dbt build" in log
    assert re.search(r"Done\. PASS=\d+ WARN=0 ERROR=0", log), log[-2000:]
    assert "sync_shop" in log

    # the same summary, kept as JSON beside the log: what was printed, read back
    report = DemoReport.from_json(demo_report_path(log_path).read_text(encoding="utf-8"))
    assert report.log_path == log_path and not report.failed_steps
    assert report.stages[0][0].startswith("generate sources (scale ")
    assert all(seconds > 0 for _, seconds in report.stages), report.stages
    printed = [line.split(" ", 1)[1].rsplit(" ", 2)[0] for line in lines if line.startswith("✓")]
    assert [name for name, _ in report.stages] == printed
    total = sum(seconds for _, seconds in report.stages)
    assert re.search(rf"\btotal\W+{re.escape(f'{total:.1f}')}\b", output), output
    assert report.dbt["counts"]["model"].get("success", 0) > 0
    assert report.layers["gold"]["fct_orders"] > 0
    gold_rows = sum(report.layers["gold"].values())
    assert gold_rows > 0 and re.search(rf"\bgold\b.*\b{gold_rows:,}\b", output), output
    # no warning twice: source and singular dbt tests are asset checks, not observations
    # logged with a warning, and Dagster's lines are not repeated by the root logger
    assert "AssetObservation" not in log
    warnings = Counter(line for line in log.splitlines() if "WARNING" in line)
    assert not [w for w, n in warnings.items() if n > 1], warnings
