"""The DuckDB extensions the table layer needs, installed offline from their wheels.

DuckDB downloads an extension the first time `INSTALL x` (or autoloading) asks for it, which
fails without internet. The official extensions are also published as Python packages
(`duckdb-extension-<name>`, pinned in pyproject.toml) that carry the signed binary for one
DuckDB version; `INSTALL '/abs/path/x.duckdb_extension'` copies it into DuckDB's extension
directory (default `~/.duckdb/extensions/<version>/<platform>/`), after which `LOAD x` and
dbt-duckdb's `extensions: [x]` work by name, offline, in every process of this user, the
Superset virtualenv included (same DuckDB version). `make setup` runs this module; it is
idempotent and copies nothing that is already installed.

    python -m lake.tables.extensions          # install what is missing, print what it did
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import duckdb

# ducklake: the table format; sqlite_scanner: the embedded catalog (a SQLite file);
# postgres_scanner: the server-mode catalog; httpfs: data files in an S3 bucket
EXTENSIONS = ("ducklake", "sqlite_scanner", "postgres_scanner", "httpfs")


class ExtensionError(RuntimeError):
    """An extension's wheel is missing or does not match the installed DuckDB."""


def wheel_binary(name: str) -> Path:
    """The extension binary shipped by the `duckdb-extension-<name>` package."""
    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(
            f"DuckDB extension {name}: the package duckdb-extension-{name.replace('_', '-')} "
            "is not installed (run `make setup`)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions"
    binary = folder / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not binary.is_file():
        shipped = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise ExtensionError(
            f"DuckDB extension {name}: {package} ships {', '.join(shipped) or 'nothing'}, "
            f"not v{duckdb.__version__} (the duckdb pin and the extension pins must match)"
        )
    return binary


def installed(connection: duckdb.DuckDBPyConnection) -> set[str]:
    """The extensions present in this connection's extension directory."""
    rows = connection.execute(
        "select extension_name, install_path from duckdb_extensions() where installed"
    ).fetchall()
    return {name for name, path in rows if path and Path(path).is_file()}


def install_extensions(names: tuple[str, ...] = EXTENSIONS) -> list[str]:
    """Install the missing extensions from their wheels; returns the names installed."""
    connection = duckdb.connect(config={"autoinstall_known_extensions": False})
    try:
        present = installed(connection)
        missing = [name for name in names if name not in present]
        for name in missing:
            connection.execute(f"install '{wheel_binary(name)}'")
        return missing
    finally:
        connection.close()


def main() -> int:
    try:
        done = install_extensions()
    except (ExtensionError, duckdb.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"DuckDB {duckdb.__version__} extensions: "
        + (f"installed {', '.join(done)}" if done else f"{', '.join(EXTENSIONS)} already installed")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
