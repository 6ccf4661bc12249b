"""`lakehouse-dbt`: dbt, started in the data folder (DBT_WORKDIR) instead of the project's.

dbt reuses its parse state (partial parsing) only when the profile's connection values are
the ones it parsed with, and dbt-duckdb's include the DuckDB file, the DuckLake catalog and
the lake's path. Run from the data folder, those are the same relative paths for every
data folder (`warehouse.duckdb`, `sqlite:lake.sqlite`, `lake`), so a copied folder, a new
one and `make setup`'s parse all share one parse state: a full parse costs about 3 s more
per invocation. dagster-dbt starts dbt in the project folder, hence this entry point; the
project and profiles folders come from DBT_PROJECT_DIR and DBT_PROFILES_DIR.
"""

from __future__ import annotations

import os
import sys

from dbt.cli.main import cli

WORKDIR = "DBT_WORKDIR"


def main() -> None:
    workdir = os.environ.get(WORKDIR)
    if workdir:
        os.chdir(workdir)
    sys.exit(cli())


if __name__ == "__main__":
    main()
