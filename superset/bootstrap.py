"""Bootstrap Superset: check the bundle, migrate, init, create the admin, import the bundle,
create the Viewer role (and a viewer user when the environment names one).

    .superset-venv/bin/python superset/bootstrap.py [--bundle superset/bundles] [--catalog PATH]

Idempotent: run it after every pull (or let `make bi` do it). The bundle is checked against
the serving catalog first, so a chart over a missing column or dataset fails here, naming
the dashboard, the chart and the column, before anything is written. Needs the environment
superset_config.py reads (SUPERSET_SECRET_KEY, SUPERSET_ADMIN_PASSWORD, ...).

The bundle's database points at `${SERVING_DATABASE_URI}`: the environment's value (server
mode: PostgreSQL's analytics schema through a read-only role) or, by default, the serving
catalog `DATA_DIR/serving/gold.duckdb` opened read-only.

The Viewer role is for business users: open the dashboards and their charts, use the native
filters, nothing else (no SQL Lab, no Explore, no editing, no database but the serving one;
docs/bi.md). A viewer user is created only when SUPERSET_VIEWER_USERNAME is set, with the
password from SUPERSET_VIEWER_PASSWORD (required then; there is no default).
"""

from __future__ import annotations

import argparse
import logging
import os
import string
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bundle_check import Bundle, BundleError, check_bundle  # noqa: E402
from served_lake import attach_served_lake  # noqa: E402

DATABASE_FILE = "databases/lakehouse_serving.yaml"
VIEWER_ROLE = "Viewer"
# What a dashboard reader needs, nothing that edits: Superset's own minimal set for showing
# dashboards to anonymous users (PUBLIC_ROLE_PERMISSIONS: read dashboards and charts, chart
# data, native filter state, permalinks), plus the menus to find the dashboards, the user's
# own profile, and the front end's usage log (without it every dashboard view logs errors).
# Data access is granted on the serving database alone (below).
VIEWER_EXTRA_PERMISSIONS = {
    ("can_log", "Superset"),
    ("menu_access", "Dashboards"),
    ("menu_access", "Charts"),
    ("can_userinfo", "UserDBModelView"),
    ("resetmypassword", "UserDBModelView"),
    ("can_recent_activity", "Log"),
}
log = logging.getLogger("superset.bootstrap")


def default_catalog() -> Path:
    explicit = os.environ.get("SERVING_CATALOG", "").strip()
    if explicit:
        return served_path(Path(explicit))
    data_dir = Path(os.environ.get("DATA_DIR", "").strip() or HERE.parent / "data").resolve()
    return data_dir / "serving" / "gold.duckdb"


def served_path(catalog: Path) -> Path:
    """An absolute path to the catalog that keeps its last link: the served `gold.duckdb` is a
    symbolic link that every publish moves to a new snapshot. Resolving it here would pin
    Superset's database to the snapshot of the day of the bootstrap (dashboards would never
    see a publish, and would break once that snapshot is pruned)."""
    return Path(os.path.abspath(catalog))


def serving_uri(catalog: Path) -> str:
    return os.environ.get("SERVING_DATABASE_URI", "").strip() or f"duckdb:///{catalog}"


def render_bundle(bundle: Bundle, uri: str) -> Bundle:
    """Point the bundle's database at the serving layer of this environment."""
    text = string.Template(bundle.files[DATABASE_FILE]).substitute(SERVING_DATABASE_URI=uri)
    config = yaml.safe_load(text)
    if uri.startswith("duckdb:"):
        # one reader among many, never a writer: no lock is taken on the catalog
        config.setdefault("extra", {})["engine_params"] = {"connect_args": {"read_only": True}}
    files = {**bundle.files, DATABASE_FILE: yaml.safe_dump(config, sort_keys=False)}
    configs = {**bundle.configs, DATABASE_FILE: config}
    return Bundle(files, configs)


def check_bundle_over_the_lake(bundle: Bundle, catalog: Path) -> None:
    """Check the bundle against the catalog's views, which read the lake: a connection that
    attached it stays open meanwhile, so the checker's own connection to the same file (same
    process, same settings) shares that database and finds the lake attached."""
    import duckdb

    with duckdb.connect(str(catalog), read_only=True) as keeper:
        attach_served_lake(keeper)
        check_bundle(bundle, catalog)


def _step(what: str, started: float) -> None:
    print(f"  {what} ({time.perf_counter() - started:.1f}s)", flush=True)


def bootstrap(bundle_dir: Path, catalog: Path) -> None:
    started = time.perf_counter()
    viewer_credentials = viewer_from_env()
    bundle = render_bundle(Bundle.load(bundle_dir), serving_uri(catalog))
    if serving_uri(catalog).startswith("duckdb:"):
        if not catalog.exists():
            raise SystemExit(
                f"error: no serving catalog at {catalog}: run the pipeline (`make demo`) first"
            )
        check_bundle_over_the_lake(bundle, catalog)
        _step(f"bundle checked against {catalog}", started)

    os.environ.setdefault("SUPERSET_CONFIG_PATH", str(HERE / "superset_config.py"))
    # imported late: superset_config refuses to load without its secrets
    from flask import g
    from flask_migrate import upgrade
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        upgrade()
        _step("metadata database migrated", started)

        from superset.extensions import db

        from superset import appbuilder, security_manager

        appbuilder.add_permissions(update_perms=True)
        security_manager.sync_role_definitions()
        db.session.commit()
        _step("roles and permissions synced", started)

        admin = _ensure_admin(security_manager, db)
        _step(f"admin {admin.username!r} ready", started)

        from superset.commands.importers.v1.assets import ImportAssetsCommand

        with app.test_request_context():
            g.user = admin
            ImportAssetsCommand(bundle.files).run()
        dashboards = sum(1 for _ in bundle.of_kind("dashboards"))
        charts = sum(1 for _ in bundle.of_kind("charts"))
        _step(f"imported {dashboards} dashboards, {charts} charts", started)

        database_name = bundle.configs[DATABASE_FILE]["database_name"]
        granted = _sync_viewer_role(security_manager, db, database_name)
        _step(f"role {VIEWER_ROLE!r} synced ({granted} permissions)", started)
        if viewer_credentials is not None:
            viewer = _ensure_viewer(security_manager, db, *viewer_credentials)
            _step(f"viewer {viewer.username!r} ready", started)


def _ensure_admin(security_manager, db):
    username = os.environ.get("SUPERSET_ADMIN_USERNAME", "").strip() or "admin"
    password = os.environ["SUPERSET_ADMIN_PASSWORD"]  # superset_config checked it
    email = os.environ.get("SUPERSET_ADMIN_EMAIL", "").strip() or f"{username}@localhost"
    role = security_manager.find_role("Admin")
    user = security_manager.find_user(username=username)
    if user is None:
        user = security_manager.add_user(username, "Lakehouse", "Admin", email, role, password)
        if not user:
            raise SystemExit(f"error: could not create the Superset admin {username!r}")
    else:
        # the environment is the source of truth: a rotated password takes effect here
        security_manager.reset_password(user.id, password)
        if role not in user.roles:
            user.roles.append(role)
    db.session.commit()
    return security_manager.find_user(username=username)


def _sync_viewer_role(security_manager, db, database_name: str) -> int:
    """Create the Viewer role, or reset it to exactly its permissions (a grant added by hand
    is taken away again: the bootstrap is the definition). Returns how many it has."""
    from superset.models.core import Database

    database = db.session.query(Database).filter_by(database_name=database_name).one_or_none()
    if database is None:
        raise SystemExit(f"error: the serving database {database_name!r} was not imported")
    wanted = security_manager.PUBLIC_ROLE_PERMISSIONS | VIEWER_EXTRA_PERMISSIONS
    permissions = [
        pvm
        for permission, view in sorted(wanted)
        if (pvm := security_manager.find_permission_view_menu(permission, view)) is not None
    ]
    access = security_manager.find_permission_view_menu("database_access", database.perm)
    if access is None:
        raise SystemExit(f"error: no database_access permission for {database.perm}")
    role = security_manager.add_role(VIEWER_ROLE)  # the existing role when there is one
    role.permissions = [*permissions, access]
    db.session.commit()
    return len(role.permissions)


def viewer_from_env() -> tuple[str, str] | None:
    """(username, password) of the viewer user the environment asks for, None when unset.
    Checked before anything is written: a name without a password is an error."""
    username = os.environ.get("SUPERSET_VIEWER_USERNAME", "").strip()
    if not username:
        return None
    password = os.environ.get("SUPERSET_VIEWER_PASSWORD", "")
    if not password:
        raise SystemExit(
            f"error: SUPERSET_VIEWER_USERNAME is {username!r} but SUPERSET_VIEWER_PASSWORD is "
            "empty: set the viewer's password in the environment (there is no default)"
        )
    # the admin password's rules (superset_config refuses a short or well-known one)
    from superset_config import _KNOWN_PASSWORDS, _MIN_PASSWORD_LENGTH

    if password.lower().strip() in _KNOWN_PASSWORDS or len(password) < _MIN_PASSWORD_LENGTH:
        raise SystemExit(
            "error: SUPERSET_VIEWER_PASSWORD is a well-known or short password (need at least "
            f"{_MIN_PASSWORD_LENGTH} characters)"
        )
    if username == (os.environ.get("SUPERSET_ADMIN_USERNAME", "").strip() or "admin"):
        raise SystemExit(f"error: SUPERSET_VIEWER_USERNAME {username!r} is the admin's name")
    return username, password


def _ensure_viewer(security_manager, db, username: str, password: str):
    """The viewer user, with the Viewer role only (whatever it was given since)."""
    email = os.environ.get("SUPERSET_VIEWER_EMAIL", "").strip() or f"{username}@localhost"
    role = security_manager.find_role(VIEWER_ROLE)
    user = security_manager.find_user(username=username)
    if user is None:
        user = security_manager.add_user(username, "Lakehouse", "Viewer", email, role, password)
        if not user:
            raise SystemExit(f"error: could not create the Superset viewer {username!r}")
    else:
        security_manager.reset_password(user.id, password)
        user.roles = [role]
    db.session.commit()
    return security_manager.find_user(username=username)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=HERE / "bundles")
    parser.add_argument("--catalog", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print("Superset bootstrap:", flush=True)
    try:
        bootstrap(args.bundle, served_path(args.catalog or default_catalog()))
    except BundleError as exc:
        print(f"error: the bundle {args.bundle} does not match the serving catalog:")
        for problem in exc.problems:
            print(f"  - {problem}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
