"""The one persistent Dagster instance of the embedded default.

`lakehouse demo`, `lakehouse sync`, the schedules and sensors (run by the daemon of
`make ui`) and the UI itself all record into the same instance, so the UI shows what the
demo and the CLI did. It lives in `$DAGSTER_HOME`, by default `DATA_DIR/dagster_home`, with
Dagster's default SQLite storage. Server mode sets DAGSTER_HOME to a folder that already
holds its own dagster.yaml (docker/dagster/dagster.yaml, storage in PostgreSQL): that file
is never overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.settings import Settings

if TYPE_CHECKING:  # importing Dagster costs seconds: `make ui` only needs the folder
    from dagster import DagsterInstance

# Pools: one dbt step at a time on the DuckDB file (one writer), one sync at a time per
# connection (they share its state file).
DAGSTER_YAML = """\
# written by orchestration/instance.py; edit freely, it is not overwritten
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME when set, else the instance folder under the data folder."""
    return Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster_home").resolve()


def prepare_dagster_home(home: Path) -> Path:
    """The folder with a dagster.yaml (written once, when there is none)."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    return home


def persistent_instance(settings: Settings) -> DagsterInstance:
    """The instance of these settings (what `make ui` shows), created on first use."""
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(prepare_dagster_home(dagster_home(settings))))
