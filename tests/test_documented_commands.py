"""The commands README.md and docs/*.md show work as typed, on a fresh clone, without uv.

A fenced shell block preceded by `<!-- runnable -->` runs as one bash script from the
repository root and must exit 0; `<!-- runnable: serves VAR /path -->` marks a command that
serves until stopped: it gets a free port in VAR, must answer 200 on that path, and is then
stopped (CONTRIBUTING.md). The README's quick start (`make demo`) runs first, at a tiny
DATAGEN_SCALE, and every other block reuses what it built.

What "fresh" means here: `git clone` of this checkout's HEAD into a temporary folder, so only
committed files exist (no data/, no .env, no dbt target/, no starter files). Not fresh, to
keep the test to minutes instead of a reinstall: the virtualenv. The clone's `.venv` is a
symlink to this checkout's installed one (its `.synced` stamp is made newer than the clone's
pyproject.toml and uv.lock, so make does not sync again), and the clone's own code is put
first on PYTHONPATH (the venv's editable install points at this checkout). uv is off the
PATH, UV points at a missing file and HOME is empty: a documented command that still needed
uv, or anything installed for the user, fails here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestration.settings import REPO_ROOT
from tests.ports import free_port

MARKER = re.compile(r"^<!--\s*runnable(?::\s*serves\s+(?P<var>\w+)\s+(?P<path>/\S*))?\s*-->$")
SHELL_FENCE = re.compile(r"^```(bash|sh|shell)\s*$")
# what a new user runs first (README's quick start), and what the rest must at least cover
QUICK_START = "make demo"
MUST_COVER = [
    "make demo",
    "make docs",
    ".venv/bin/lakehouse sync shop",
    ".venv/bin/lakehouse connections check",
    ".venv/bin/lakehouse doctor",
    "cd dbt_project && ../.venv/bin/dbt build",
]
BLOCK_TIMEOUT = 1200  # seconds; a demo at scale 0.001 takes about 5 minutes on a busy CI box
SERVE_TIMEOUT = 300


def documents(root: Path) -> list[Path]:
    """README.md, then docs/*.md: the order a new user reads them in."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    document: str
    line: int
    script: str
    serves: tuple[str, str] | None  # (port variable, path) for a command that serves

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"


def runnable_blocks(root: Path) -> list[Block]:
    """The marked shell blocks of the documents under root, in reading order."""
    return [block for document in documents(root) for block in _blocks(document, root)]


def _blocks(document: Path, root: Path) -> list[Block]:
    lines = document.read_text(encoding="utf-8").splitlines()
    name = str(document.relative_to(root))
    blocks = []
    for i, line in enumerate(lines):
        marker = MARKER.match(line.strip())
        if not marker:
            continue
        fence = lines[i + 1] if i + 1 < len(lines) else ""
        assert SHELL_FENCE.match(fence), f"{name}:{i + 1}: a runnable marker needs a shell block"
        end = lines.index("```", i + 2)
        serves = (marker["var"], marker["path"]) if marker["var"] else None
        blocks.append(Block(name, i + 3, "\n".join(lines[i + 2 : end]) + "\n", serves))
    return blocks


def commands(block: Block) -> list[str]:
    """The commands of a block without their comments (to check what the blocks cover)."""
    found = []
    for line in block.script.splitlines():
        command = line.split("  #", 1)[0].split(" # ", 1)[0].strip()
        if command and not command.startswith("#"):
            found.append(command)
    return found


def test_documented_shell_commands_need_no_uv():
    """`uv run` fails where uv is not on the PATH (the Makefile keeps its own copy)."""
    offenders = []
    for document in documents(REPO_ROOT):
        for n, line in enumerate(document.read_text(encoding="utf-8").splitlines(), 1):
            if "uv run" in line:
                offenders.append(f"{document.relative_to(REPO_ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_quick_start_and_the_main_commands_are_marked_runnable():
    blocks = runnable_blocks(REPO_ROOT)
    assert commands(blocks[0]) == [QUICK_START], blocks[0].where
    covered = {command for block in blocks for command in commands(block)}
    assert set(MUST_COVER) <= covered, set(MUST_COVER) - covered


# -- the fresh clone ---------------------------------------------------------------------------


def _path_without_uv() -> str:
    keep = [
        d
        for d in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
        if d and not os.access(os.path.join(d, "uv"), os.X_OK)
    ]
    return os.pathsep.join(keep)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    venv = (REPO_ROOT / ".venv").resolve()
    stamp = venv / ".synced"
    if not stamp.exists():
        pytest.fail("run `make setup` first: the clone reuses the installed .venv")
    root = tmp_path_factory.mktemp("fresh")
    head = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # a worktree clones as its repository: check out this checkout's commit explicitly
    subprocess.run(
        ["git", "clone", "-q", "--no-checkout", str(REPO_ROOT), str(root / "repo")], check=True
    )
    repo = root / "repo"
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", head], check=True)
    (repo / ".venv").symlink_to(venv, target_is_directory=True)
    older = stamp.stat().st_mtime - 60
    for name in ("pyproject.toml", "uv.lock"):
        os.utime(repo / name, (older, older))
    return repo


@pytest.fixture(scope="module")
def fresh_env(clone, tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("home")
    env = {
        "PATH": _path_without_uv(),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "COLUMNS": "160",
        "PYTHONPATH": str(clone),  # the clone's code, not the checkout the venv points at
        "UV": str(home / "no-uv-here" / "uv"),
        "DATAGEN_SCALE": "0.001",  # the quick start at a tiny scale
    }
    check = subprocess.run(["bash", "-c", "command -v uv"], env=env, capture_output=True)
    assert check.returncode != 0, "uv is still on the PATH"
    return env


def _run(block: Block, clone: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.script],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"{block.where} exited {result.returncode}:\n{block.script}\n"
        f"--- output ---\n{output[-4000:]}"
    )
    return output


def _serve(block: Block, clone: Path, env: dict[str, str]) -> bytes:
    """Start a serving block, fetch its page once it answers, stop it; the page's bytes."""
    variable, path = block.serves
    port = free_port()
    url = f"http://127.0.0.1:{port}{path}"
    log = clone / f".serve-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", block.script],
            cwd=clone,
            env={**env, variable: str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: make, dbt and the server stop
        )
    try:
        deadline = time.monotonic() + SERVE_TIMEOUT
        while time.monotonic() < deadline:
            assert process.poll() is None, (
                f"{block.where} exited {process.returncode} before serving {url}:\n"
                f"{log.read_text(errors='replace')[-4000:]}"
            )
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    assert response.status == 200
                    return response.read()
            except (urllib.error.URLError, ConnectionError):
                time.sleep(2)
        pytest.fail(f"{block.where}: nothing served {url} within {SERVE_TIMEOUT} s")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.integration
@pytest.mark.timeout(3600)
def test_every_runnable_block_works_as_typed_on_a_fresh_clone(clone, fresh_env):
    blocks = runnable_blocks(clone)
    outputs: dict[str, str] = {}
    pages: dict[str, bytes] = {}
    for block in blocks:
        started = time.monotonic()
        if block.serves:
            pages[block.where] = _serve(block, clone, fresh_env)
        else:
            outputs[block.where] = _run(block, clone, fresh_env)
        print(f"{block.where}: {time.monotonic() - started:.0f} s")  # shown with -rP or -s

    # what the blocks did, beyond their exit codes
    gold = list((clone / "data" / "lake" / "gold").rglob("*.parquet"))
    assert len(gold) >= 10, "the quick start built no gold marts in the clone"
    assert (clone / "starter.yml").read_text().startswith("connections:")
    assert all(b"dbt" in page for page in pages.values()) and pages
    everything = "\n".join(outputs.values())
    assert "not running" in everything and "demo service" in everything  # crm, outside a demo


def test_make_help_aligns_every_description():
    result = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in result.stdout.splitlines()]
    names = [line.split()[0] for line in lines]
    assert {"demo", "docs", "superset-setup", "test"} <= set(names)
    starts = {
        len(line) - len(line.lstrip()[len(name) :].lstrip())
        for line, name in zip(lines, names, strict=True)
    }
    assert len(starts) == 1, lines  # one column for the descriptions, after the longest name
