"""dbt on DuckDB, started by a test the way the pipeline starts it: `lakehouse-dbt` in the data
folder, with the paths relative to it (orchestration/dbt_launch.py). The profile's values are
then those of every data folder and of `make setup`'s parse, so dbt starts from that parse
state instead of parsing the whole project again (about 3 s of CPU per run). The analytics
engineer's path (plain `dbt` in dbt_project/ with absolute paths) keeps its own tests
(tests/test_pipeline.py, tests/test_documented_commands.py)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from orchestration.dbt_targets import PARTIAL_PARSE, SETUP_PARSE_STATE, dbt_command
from orchestration.settings import DBT_PROJECT_DIR

PLAIN_DBT = str(Path(sys.executable).parent / "dbt")

# where a data folder keeps what dbt's DuckDB target reads and writes (Settings' defaults)
LAYOUT = {
    "DUCKDB_PATH": "warehouse.duckdb",
    "LAKE_ROOT": "lake",
    "LAKE_CATALOG": "sqlite:lake.sqlite",
}


def in_the_data_folder(
    args: list[str], env: Mapping[str, str], target_path: Path
) -> tuple[list[str], dict[str, str]]:
    """The command and environment of `dbt <args>` on the DuckDB target whose absolute paths
    `env` gives (a data folder's layout: LAYOUT), its artifacts in `target_path`, seeded with
    `make setup`'s parse state."""
    folder = Path(env["DUCKDB_PATH"]).parent
    absolute = {
        "DUCKDB_PATH": str(folder / "warehouse.duckdb"),
        "LAKE_ROOT": str(folder / "lake"),
        "LAKE_CATALOG": f"sqlite:{folder / 'lake.sqlite'}",
    }
    given = {name: env.get(name) for name in absolute}
    if given != absolute:
        raise ValueError(f"not a data folder's layout: {given} (expected {absolute})")
    target_path.mkdir(parents=True, exist_ok=True)
    if SETUP_PARSE_STATE.exists() and not (target_path / PARTIAL_PARSE).exists():
        shutil.copyfile(SETUP_PARSE_STATE, target_path / PARTIAL_PARSE)
    command = dbt_command(*args, "--target-path", str(target_path))
    return command, {**env, **LAYOUT, "DBT_TARGET": "duckdb", "DBT_WORKDIR": str(folder)}


def dbt_on(
    target: str,
    args: list[str],
    settings: Mapping[str, str],
    target_path: Path,
    *,
    as_a_user: bool = False,
) -> tuple[list[str], dict[str, str]]:
    """The command and environment of `dbt <args> --target <target>`: the test's environment
    without DBT_* variables, plus `settings`. DuckDB from the data folder
    (in_the_data_folder), unless `as_a_user`; any other target, or a user, plain `dbt` with
    the repo's profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    env.update(settings)
    args = [*args, "--target", target]
    if target == "duckdb" and not as_a_user:
        return in_the_data_folder(args, env, target_path)
    folders = ["--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(target_path)]
    return [PLAIN_DBT, *args, *folders], env
