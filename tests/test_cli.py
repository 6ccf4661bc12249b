"""The `lakehouse` command: sync and connections, and bad input as one clear line."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import yaml

from datagen.generate import GenerationRequest, generate
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


def test_connections_lists_every_stream_with_its_mode(tmp_path):
    result = lakehouse("connections", "list", env=base_env(tmp_path))
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "│ orders " in line]
    assert len(rows) == 1
    assert "incremental/append_dedup" in rows[0] and "updated_at" in rows[0]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    generate(GenerationRequest(0.002, 3, f"sqlite:///{data}/shop.db", str(data / "landing")))
    return data


def test_sync_shows_a_table_then_resumes_incrementally_and_full_refresh_replaces(generated):
    env = base_env(generated)
    first = lakehouse("sync", "shop", "--stream", "orders", env=env)
    assert first.returncode == 0, first.stderr
    row = next(line for line in first.stdout.splitlines() if "│ orders " in line)
    assert "incremental/append_dedup" in row and "2,000" in row  # 2,000 orders at this scale
    again = lakehouse("sync", "shop", "--stream", "orders", env=env)
    row = next(line for line in again.stdout.splitlines() if "│ orders " in line)
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    # nothing changed: nothing read, re-read or written (columns read, re-read, bronze)
    assert cells[2:5] == ["0", "0", "0"], row
    refresh = lakehouse("sync", "shop", "--stream", "orders", "--full-refresh", env=env)
    row = next(line for line in refresh.stdout.splitlines() if "│ orders " in line)
    assert "full_refresh" not in row and "incremental/overwrite" in row and "2,000" in row
    files = list((generated / "lake" / "bronze" / "shop" / "orders").rglob("*.parquet"))
    assert len(files) == 1  # the full refresh replaced the earlier copies


def test_connections_check_names_the_failing_connection(generated):
    env = base_env(generated)
    result = lakehouse("connections", "check", "shop", "fx", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("succeeded") == 2
    broken = lakehouse("connections", "check", "shop", env={**env, "OLTP_DSN": "sqlite:///no.db"})
    assert broken.returncode == 1
    assert "failed" in broken.stdout and "does not exist" in broken.stdout


def test_connections_check_reports_the_demo_crm_as_not_running_and_fails_nothing(generated):
    # CRM_API_URL unset: the crm connection points at the demo's address, where nothing runs
    # outside a demo (this test needs 127.0.0.1:8765 free)
    result = lakehouse("connections", "check", "shop", "crm", env=base_env(generated))
    assert result.returncode == 0, result.stdout + result.stderr
    crm = " ".join(line for line in result.stdout.splitlines() if "│" in line).split("│ crm ")[1]
    assert "not running" in crm and "demo service" in crm and "datagen.crm_api" in crm
    assert "succeeded" not in crm and result.stdout.count("succeeded") == 1  # shop only


def test_connections_check_fails_a_configured_crm_it_cannot_reach(generated):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{free.getsockname()[1]}"
    env = {**base_env(generated), "CRM_API_URL": dead, "CRM_API_TOKEN": "t"}
    result = lakehouse("connections", "check", "crm", env=env)
    assert result.returncode == 1
    assert "failed" in result.stdout and "not running" not in result.stdout


def test_connections_discover_writes_a_starter_file_without_secrets(generated, tmp_path):
    starter = tmp_path / "starter.yml"
    result = lakehouse(
        "connections", "discover", "shop", "--write", str(starter), env=base_env(generated)
    )
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(starter.read_text())
    shop = document["connections"]["shop"]
    assert shop["config"] == {"dsn": "${SHOP_DSN}"}
    orders = next(s for s in shop["streams"] if s["name"] == "orders")
    assert orders == {
        "name": "orders",
        "sync_mode": "incremental",
        "destination_sync_mode": "append_dedup",
        "cursor_field": "updated_at",
        "primary_key": ["order_id"],
    }
