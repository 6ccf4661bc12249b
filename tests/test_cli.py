"""The `lakehouse` command: bad input gives one clear line, not a traceback."""

from __future__ import annotations

import subprocess
import sys

from orchestration.settings import REPO_ROOT


def lakehouse(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def base_env(tmp_path) -> dict[str, str]:
    import os

    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DATA_DIR": str(tmp_path)}


def test_bad_lake_url_is_one_line(tmp_path):
    result = lakehouse("sync", "fx", env={**base_env(tmp_path), "LAKE_URL": "s3://Not_A_Bucket"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "s3://Not_A_Bucket" in result.stderr and "Traceback" not in result.stderr


def test_unknown_connection_lists_the_known_ones(tmp_path):
    result = lakehouse("sync", "nope", env=base_env(tmp_path))
    assert result.returncode == 2
    assert "no connection 'nope'" in result.stderr and "shop, clickstream, fx" in result.stderr


def test_missing_landing_zone_is_named(tmp_path):
    result = lakehouse("sync", "fx", env=base_env(tmp_path))
    assert result.returncode == 2
    assert f"landing folder {tmp_path}/landing/fx_rates does not exist" in result.stderr


def test_connections_lists_every_connection(tmp_path):
    result = lakehouse("connections", env=base_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "shop (sql): customers, merchants" in result.stdout
