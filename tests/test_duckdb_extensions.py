"""DuckDB's extensions come from the pinned wheels, offline, into a fresh extension directory
(what `make setup` does on a new machine: DuckDB's default directory is under $HOME)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb

from lake.tables.extensions import EXTENSIONS, wheel_binary

# in a fresh process with HOME=tmp: load every extension by name (no automatic download) and
# use DuckLake with its SQLite catalog
USE_THEM = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    for name in sys.argv[1].split(","):
        con.execute(f"load {name}")
    work = sys.argv[2]
    con.execute(f"attach 'ducklake:sqlite:{work}/cat.sqlite' as lake (data_path '{work}/data/')")
    con.execute("create table lake.t as select range as id from range(5)")
    print(con.execute("select sum(id) from lake.t").fetchone()[0])
    """
)


def _run(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_a_fresh_home_gets_every_extension_offline_and_once(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()

    before = _run(home, "-c", USE_THEM, ",".join(EXTENSIONS), str(work))
    assert before.returncode != 0, "an extension loaded before it was installed"

    first = _run(home, "-m", "lake.tables.extensions")
    assert first.returncode == 0, first.stderr
    assert f"installed {', '.join(EXTENSIONS)}" in first.stdout
    directory = home / ".duckdb" / "extensions" / f"v{duckdb.__version__}"
    assert sorted(p.name for p in directory.glob("*/*.duckdb_extension")) == sorted(
        f"{name}.duckdb_extension" for name in EXTENSIONS
    )

    again = _run(home, "-m", "lake.tables.extensions")
    assert again.returncode == 0, again.stderr
    assert "already installed" in again.stdout

    after = _run(home, "-c", USE_THEM, ",".join(EXTENSIONS), str(work))
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == "10"


def test_each_extension_wheel_matches_the_pinned_duckdb():
    for name in EXTENSIONS:
        binary = wheel_binary(name)
        assert binary.parent.name == f"v{duckdb.__version__}"
        assert binary.stat().st_size > 100_000
