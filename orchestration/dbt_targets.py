"""Where each dbt invocation writes its artifacts, and the parse state they share.

dbt can skip parsing the project when it finds a `partial_parse.msgpack` written with the
same target, profile and variables. The pipeline gives dbt the same profile values in every
data folder (paths relative to it: dbt_launch.py), so `make setup`'s parse state
(resources.parse_dbt_project) starts a new data folder's first invocation, and each
invocation keeps the state it leaves beside the targets for the next one.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR

PARTIAL_PARSE = "partial_parse.msgpack"
# `make setup`'s parse (resources.parse_dbt_project), beside the manifest Dagster reads
SETUP_PARSE_STATE = DBT_PROJECT_DIR / "target" / PARTIAL_PARSE
KEEP_TARGETS = 30  # recent invocation folders kept for debugging (dbt.log, run_results)


def dbt_launcher() -> Path:
    """`lakehouse-dbt` beside this interpreter (an unactivated venv still finds it): dbt
    started in the data folder that DBT_WORKDIR names (orchestration/dbt_launch.py)."""
    launcher = Path(sys.executable).parent / "lakehouse-dbt"
    if not launcher.exists():
        raise RuntimeError(f"{launcher} is missing: run `make setup` (it installs the project)")
    return launcher


def dbt_command(*args: str) -> list[str]:
    """A dbt command line outside dagster-dbt (which passes the folders itself): the
    launcher, then the repo's project and profiles folders. Its environment needs
    Settings.dbt_env (DBT_WORKDIR and the relative paths)."""
    folder = str(DBT_PROJECT_DIR)
    return [str(dbt_launcher()), *args, "--project-dir", folder, "--profiles-dir", folder]


def targets_root(data_dir: str | Path) -> Path:
    return Path(data_dir) / "dbt" / "targets"


def new_target(data_dir: str | Path, name: str) -> Path:
    """A fresh target folder for one invocation, seeded with the shared parse state."""
    root = targets_root(data_dir)
    target = root / f"{name}-{uuid.uuid4().hex[:8]}"
    target.mkdir(parents=True)
    shared = root / PARTIAL_PARSE
    if not shared.exists():  # a new data folder: make setup's parse state (same values)
        shared = SETUP_PARSE_STATE
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
