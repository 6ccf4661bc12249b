"""Whether the dbt manifest is current, answered without importing dbt or Dagster (so that
`make ui` can check it in a fraction of a second before it starts the Dagster processes)."""

from __future__ import annotations

from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR

DBT_SOURCE_FOLDERS = ("models", "macros", "snapshots", "tests", "seeds")
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"


def project_changed_since(timestamp: float) -> bool:
    files = [DBT_PROJECT_DIR / "dbt_project.yml"]
    for folder in DBT_SOURCE_FOLDERS:
        files += [p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > timestamp for p in files)


def manifest_is_current(manifest: Path = MANIFEST) -> bool:
    return manifest.exists() and not project_changed_since(manifest.stat().st_mtime)
