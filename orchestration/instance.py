"""The one persistent Dagster instance of the embedded default.

`lakehouse demo`, `lakehouse sync`, the schedules and sensors (run by the daemon of
`make ui`) and the UI itself all record into the same instance, so the UI shows what the
demo and the CLI did. It lives in `$DAGSTER_HOME`, by default `DATA_DIR/dagster_home`, in
SQLite (the event log keeps its connections open: event_storage.py). Server mode sets
DAGSTER_HOME to a folder that already holds its own dagster.yaml
(docker/dagster/dagster.yaml, storage in PostgreSQL): that file is never overwritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.settings import Settings

if TYPE_CHECKING:  # importing Dagster costs seconds: `make ui` only needs the folder
    from dagster import DagsterInstance

# Pools: one dbt step at a time on the DuckDB file (one writer), one sync at a time per
# connection (they share its state file). The event log keeps its SQLite connections open
# (orchestration/event_storage.py: Dagster's default opens one per event, the demo's dbt
# build spends more time there than in dbt).
GENERATED = "# written by orchestration/instance.py; rewritten while this line is here"
DAGSTER_YAML = """\
{marker} (delete it to keep your edits)
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
event_log_storage:
  module: orchestration.event_storage
  class: LakehouseSqliteEventLogStorage
  config:
    base_dir: {events}
"""
# what earlier versions wrote, replaced when found unedited
EARLIER_YAML = """\
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


def instance_yaml(home: Path) -> str:
    # the folder Dagster's default SQLite storage uses, so the history stays where it was
    return DAGSTER_YAML.format(marker=GENERATED, events=json.dumps(str(home / "history" / "runs")))


def prepare_dagster_home(home: Path) -> Path:
    """The folder with a dagster.yaml: written when there is none, rewritten when it is one
    this module wrote (the folder moved, or an earlier version), never when edited."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    current = config.read_text(encoding="utf-8") if config.exists() else None
    wanted = instance_yaml(home)
    if current is None or (
        current != wanted and (current.startswith(GENERATED) or current == EARLIER_YAML)
    ):
        config.write_text(wanted, encoding="utf-8")
    return home


def persistent_instance(settings: Settings) -> DagsterInstance:
    """The instance of these settings (what `make ui` shows), created on first use."""
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(prepare_dagster_home(dagster_home(settings))))
