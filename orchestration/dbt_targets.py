"""Where each dbt invocation writes its artifacts, and the parse state they share.

dbt can skip parsing the project when it finds a `partial_parse.msgpack` written with the
same target, profile and variables. `make setup` parses with the default data directory's
DUCKDB_PATH/LAKE_ROOT/DBT_TARGET (resources.parse_dbt_project); a run on another data
directory (tests, benchmarks) parses once, and its invocations keep that parse state beside
their targets for the next ones to reuse.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

PARTIAL_PARSE = "partial_parse.msgpack"
KEEP_TARGETS = 30  # recent invocation folders kept for debugging (dbt.log, run_results)


def dbt_launcher() -> Path:
    """`lakehouse-dbt` beside this interpreter (an unactivated venv still finds it): dbt
    started in the data folder that DBT_WORKDIR names (orchestration/dbt_launch.py)."""
    launcher = Path(sys.executable).parent / "lakehouse-dbt"
    if not launcher.exists():
        raise RuntimeError(f"{launcher} is missing: run `make setup` (it installs the project)")
    return launcher


def targets_root(data_dir: str | Path) -> Path:
    return Path(data_dir) / "dbt" / "targets"


def new_target(data_dir: str | Path, name: str) -> Path:
    """A fresh target folder for one invocation, seeded with the shared parse state."""
    root = targets_root(data_dir)
    target = root / f"{name}-{uuid.uuid4().hex[:8]}"
    target.mkdir(parents=True)
    shared = root / PARTIAL_PARSE
    if shared.exists():
        shutil.copyfile(shared, target / PARTIAL_PARSE)
    _prune(root)
    return target


def keep_parse_state(target: Path) -> None:
    """Share the parse state this invocation left (atomically: steps may run side by side)."""
    written = target / PARTIAL_PARSE
    if not written.exists():
        return
    shared = target.parent / PARTIAL_PARSE
    tmp = target.parent / f".{PARTIAL_PARSE}.{uuid.uuid4().hex}"
    shutil.copyfile(written, tmp)
    os.replace(tmp, shared)


def _prune(root: Path) -> None:
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in folders[:-KEEP_TARGETS]:
        shutil.rmtree(old, ignore_errors=True)
