"""What the benchmarks share: a throwaway PostgreSQL server and CPU accounting from /proc."""

from __future__ import annotations

import os
import pwd
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def pg_bindir() -> Path:
    candidates = [os.environ.get("PG_BINDIR", ""), "/usr/lib/postgresql/15/bin"]
    candidates += sorted(str(p) for p in Path("/usr/lib/postgresql").glob("*/bin"))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    sys.exit("PostgreSQL server binaries not found: apt-get install postgresql (or set PG_BINDIR)")


@contextmanager
def postgres_server(workdir: Path, settings: Mapping[str, str]) -> Iterator[tuple[str, Path]]:
    """Start a PostgreSQL server under workdir (as the postgres user when we are root) with
    the given server settings; yield its DSN and data folder; stop it."""
    bindir = pg_bindir()
    datadir, sockdir = workdir / "pgdata", workdir / "pgsock"
    sockdir.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (workdir, sockdir):
            os.chown(path, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    initdb = [str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", "postgres"]
    subprocess.run([*as_user, *initdb, "--no-sync"], check=True, capture_output=True)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockdir} "
    options += " ".join(f"-c {k}={v}" for k, v in settings.items())
    pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(workdir / "pg.log")]
    subprocess.run([*pg_ctl, "-o", options, "-w", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", datadir
    finally:
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True)


def busy_jiffies() -> tuple[int, int, int]:
    """(busy, total, steal) CPU jiffies of the whole machine, from /proc/stat; steal is
    time the hypervisor gave our virtual cores to someone else (not counted as busy)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle, steal = fields[3] + fields[4], fields[7] if len(fields) > 7 else 0
    return sum(fields) - idle - steal, sum(fields), steal


def server_jiffies(datadir: Path | None) -> int:
    """CPU jiffies of our PostgreSQL server: the postmaster, the backends it reaped and the
    ones still running (0 without a server)."""
    if datadir is None:
        return 0
    postmaster = int((datadir / "postmaster.pid").read_text().split()[0])
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        elif ppid == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total


def children_cpu() -> float:
    """CPU seconds of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
