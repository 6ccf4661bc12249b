"""Server mode without a Docker engine: the compose file, its env file and the PostgreSQL init.

`docker-compose config` (Debian's docker-compose 1.29, installed by `.ci/run`) interpolates
and validates the file exactly as `make up` would, without starting anything. The parsed
result is then held to the security rules: no default secrets, loopback-only ports, the
pipeline is not MinIO's root, healthchecks, named volumes. `docker/postgres/init.sh` runs
for real against a throwaway PostgreSQL server, and the roles it creates are tried.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import init_sh_passwords, server_mode_cluster

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
ONE_SHOT = {"minio-init"}  # exits when done: no healthcheck, no port, no restart

_ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")
_REFERENCE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(:?[?-])?")


def _compose_binary() -> str:
    found = shutil.which("docker-compose")
    if not found:
        pytest.fail("docker-compose not found: apt-get install docker-compose (.ci/run does)")
    return found


def example_variables() -> dict[str, str]:
    """The variables of .env.example with their example values."""
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = _ASSIGNMENT.match(line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def compose_references() -> dict[str, str]:
    """Every ${VAR...} in the compose file: name -> '' (plain), ':?' (required) or ':-'."""
    lines = COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    text = text.replace("$$", "")  # escaped: the container's shell, not compose
    found: dict[str, str] = {}
    for name, kind in _REFERENCE.findall(text):
        if found.get(name) != ":?":
            found[name] = kind
    return found


def required_secrets() -> list[str]:
    return sorted(name for name, kind in compose_references().items() if kind == ":?")


def complete_env() -> dict[str, str]:
    """Every variable of .env.example filled with a random value (letters and digits)."""
    env = {}
    for name, value in example_variables().items():
        env[name] = value or secrets.token_hex(12)
    env["LAKE_BUCKET"] = "lakehouse-test"
    env["DBT_TARGET"] = ""
    return env


def compose_config(
    env: dict[str, str], tmp_path: Path, extra: list[str] | None = None
) -> subprocess.CompletedProcess:
    """`docker-compose config` with exactly `env` as its env file and a clean environment
    (nothing from the test process leaks into the interpolation)."""
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
    return subprocess.run(
        [
            _compose_binary(),
            "--project-directory",
            str(REPO_ROOT),
            "--file",
            str(COMPOSE_FILE),
            "--env-file",
            str(env_file),
            "config",
            *(extra or []),
        ],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> tuple[dict, dict[str, str]]:
    env = complete_env()
    result = compose_config(env, tmp_path_factory.mktemp("compose"))
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout), env


# -- validity and refusal ---------------------------------------------------------------------
def test_compose_file_is_valid_with_every_variable_of_env_example(parsed):
    config, _ = parsed
    assert {"minio", "minio-init", "postgres", "pipeline", "dagster-daemon", "superset"} <= set(
        config["services"]
    )


def test_every_compose_variable_is_documented_in_env_example():
    documented = set(example_variables())
    missing = sorted(set(compose_references()) - documented)
    assert not missing, f"used by docker-compose.yml but not in .env.example: {missing}"


def test_env_example_ships_no_secret_values():
    values = example_variables()
    required = required_secrets()
    assert len(required) >= 9, required  # MinIO root, pipeline S3 key, 6 PG roles, Superset
    for name in required:
        assert values.get(name, "") == "", f"{name} has a value in .env.example"
    for name, value in values.items():
        if re.search(r"PASSWORD|SECRET|TOKEN", name):
            assert value == "", f"{name} has a value in .env.example"


@pytest.mark.parametrize("name", required_secrets())
def test_compose_refuses_to_start_while_a_secret_is_unset(name, tmp_path):
    env = complete_env()
    del env[name]
    result = compose_config(env, tmp_path)
    assert result.returncode != 0
    assert f"{name} must be set" in result.stderr


@pytest.mark.parametrize("name", required_secrets())
def test_compose_refuses_an_empty_secret(name, tmp_path):
    """.env.example ships every secret empty: copying it unchanged must not start."""
    env = {**complete_env(), name: ""}
    result = compose_config(env, tmp_path)
    assert result.returncode != 0
    assert f"{name} must be set" in result.stderr


def test_env_example_copied_unchanged_is_refused(tmp_path):
    result = compose_config(example_variables(), tmp_path)
    assert result.returncode != 0
    assert "must be set" in result.stderr


# -- what the parsed configuration says -------------------------------------------------------
def _ports(service: dict) -> list[dict]:
    """Port mappings in either syntax docker-compose prints: long form or 'ip:host:ctr'."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.append(port)
        else:
            ip, _, rest = str(port).partition(":")
            published, _, target = rest.partition(":")
            out.append({"host_ip": ip, "published": published, "target": target.split("/")[0]})
    return out


def test_every_published_port_binds_loopback_only(parsed):
    config, _ = parsed
    published = {}
    for name, service in config["services"].items():
        for port in _ports(service):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            published[name] = str(port["published"])
    # only the UIs; the S3 API, PostgreSQL and the daemon stay inside the compose network
    assert published == {"minio": "9001", "pipeline": "3000", "superset": "8088"}


def test_pipeline_credentials_are_not_minio_root(parsed):
    config, env = parsed
    services = config["services"]
    root = services["minio"]["environment"]
    assert root["MINIO_ROOT_USER"] == env["MINIO_ROOT_USER"]
    for name in ("pipeline", "dagster-daemon"):
        pipeline = services[name]["environment"]
        assert pipeline["LAKE_S3_ACCESS_KEY_ID"] == env["LAKE_S3_ACCESS_KEY_ID"]
        assert pipeline["LAKE_S3_ACCESS_KEY_ID"] != root["MINIO_ROOT_USER"]
        assert pipeline["LAKE_S3_SECRET_ACCESS_KEY"] != root["MINIO_ROOT_PASSWORD"]
        assert not any(k.startswith("MINIO_ROOT") for k in pipeline), name
        assert root["MINIO_ROOT_PASSWORD"] not in pipeline.values()
    # minio-init refuses an operator who sets the pipeline's key to the root user
    init = services["minio-init"]
    script = "\n".join(init["command"])
    assert '"$$LAKE_S3_ACCESS_KEY_ID" = "$$MINIO_ROOT_USER"' in script
    assert "mc admin policy attach lake lakehouse-pipeline" in script


def test_no_secret_reaches_a_service_that_does_not_need_it(parsed):
    config, env = parsed
    services = config["services"]
    everywhere = {
        name: " ".join(str(v) for v in (service.get("environment") or {}).values())
        for name, service in services.items()
    }
    needs = {
        "MINIO_ROOT_PASSWORD": {"minio", "minio-init"},
        "POSTGRES_PASSWORD": {"postgres"},
        "SUPERSET_SECRET_KEY": {"superset"},
        "SUPERSET_ADMIN_PASSWORD": {"superset"},
        "SUPERSET_PG_PASSWORD": {"postgres", "superset"},
        "DAGSTER_PG_PASSWORD": {"postgres", "pipeline", "dagster-daemon"},
        "LAKE_CATALOG_PASSWORD": {"postgres", "pipeline", "dagster-daemon"},
    }
    for secret, allowed in needs.items():
        holders = {name for name, text in everywhere.items() if env[secret] in text}
        assert holders == allowed, f"{secret} reaches {sorted(holders)}"


def test_superset_reads_the_serving_schema_as_the_read_only_login(parsed):
    config, env = parsed
    superset = config["services"]["superset"]["environment"]
    uri = superset["SERVING_DATABASE_URI"]
    assert uri.startswith("postgresql+psycopg2://superset_reader:")
    assert uri.endswith("@postgres:5432/analytics")
    assert env["ANALYTICS_PG_PASSWORD"] not in " ".join(superset.values())
    assert superset["SUPERSET_METADATA_DB_URI"].endswith("@postgres:5432/superset")


def test_long_running_services_have_healthchecks_and_one_shots_do_not(parsed):
    config, _ = parsed
    for name, service in config["services"].items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no"
            continue
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), name
        assert service.get("restart") == "unless-stopped", name


def test_data_lives_on_named_volumes_and_bind_mounts_are_read_only(parsed):
    config, _ = parsed
    declared = set(config["volumes"])
    used = set()
    for name, service in config["services"].items():
        for volume in service.get("volumes", []):
            if isinstance(volume, dict):
                source, target = volume.get("source", ""), volume["target"]
                read_only = volume.get("read_only", False)
            else:
                parts = volume.split(":")
                source, target = parts[0], parts[1]
                read_only = len(parts) > 2 and "ro" in parts[2].split(",")
            if source.startswith("/"):  # a bind mount: configuration only, never data
                assert read_only, f"{name}: bind mount {source} -> {target} is writable"
            else:
                assert source in declared, f"{name}: {source} is not a declared named volume"
                used.add(source)
    assert used == declared
    assert {"minio_data", "postgres_data", "pipeline_data", "dagster_home"} <= declared


def test_postgres_runs_with_logical_replication(parsed):
    config, _ = parsed
    command = config["services"]["postgres"]["command"]
    assert "wal_level=logical" in command


def test_pipeline_services_start_after_their_dependencies_are_healthy(parsed):
    config, _ = parsed
    for name in ("pipeline", "dagster-daemon"):
        depends = config["services"][name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["minio"]["condition"] == "service_healthy"
        assert depends["minio-init"]["condition"] == "service_completed_successfully"
    assert config["services"]["superset"]["depends_on"]["postgres"]["condition"] == (
        "service_healthy"
    )


def test_pipeline_is_configured_through_the_environment_only(parsed):
    config, env = parsed
    pipeline = config["services"]["pipeline"]["environment"]
    assert pipeline["LAKE_URL"] == f"s3://{env['LAKE_BUCKET']}"
    assert pipeline["LAKE_S3_ENDPOINT"] == "http://minio:9000"
    assert pipeline["OLTP_DSN"] == f"postgresql://shop:{env['OLTP_PASSWORD']}@postgres:5432/shop"
    assert pipeline["SERVING_PG_DSN"].startswith("postgresql://analytics:")
    # the DuckLake catalog: its own database and role, the password in a variable of its own
    assert pipeline["LAKE_CATALOG"] == "postgresql://lake_catalog@postgres:5432/lake_catalog"
    assert pipeline["LAKE_CATALOG_PASSWORD"] == env["LAKE_CATALOG_PASSWORD"]
    assert (
        config["services"]["pipeline"]["environment"]
        == (config["services"]["dagster-daemon"]["environment"])
    )


# -- the images -------------------------------------------------------------------------------
@pytest.mark.parametrize("dockerfile", ["Dockerfile", "docker/superset/Dockerfile"])
def test_dockerfile_copies_only_what_exists_and_runs_unprivileged(dockerfile):
    text = (REPO_ROOT / dockerfile).read_text(encoding="utf-8")
    text = text.replace("\\\n", " ")
    copies = [line.split()[1:] for line in text.splitlines() if line.startswith("COPY ")]
    assert copies
    for args in copies:
        sources = [a for a in args if not a.startswith("--")][:-1]
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"{dockerfile}: COPY {source}: not in the repo"
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), f"{dockerfile} runs as root"
    assert "--frozen" in text or "pip sync" in text, f"{dockerfile} installs unlocked versions"


def test_compose_builds_from_files_in_the_repo(parsed):
    config, _ = parsed
    for name, service in config["services"].items():
        build = service.get("build")
        if build:
            assert (Path(build["context"]) / build.get("dockerfile", "Dockerfile")).exists(), name


# -- the Dagster instance and the dbt schema --------------------------------------------------
DAGSTER_INSTANCE = REPO_ROOT / "docker" / "dagster" / "dagster.yaml"


def _volume_targets(service: dict) -> dict[str, str]:
    """Named volume -> where it is mounted, in either syntax docker-compose prints."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found[volume.get("source", "")] = volume["target"]
        else:
            source, target = volume.split(":")[:2]
            found[source] = target
    return found


def test_dagster_instance_stores_runs_in_postgresql_configured_by_the_environment(parsed):
    config, _ = parsed
    instance = yaml.safe_load(DAGSTER_INSTANCE.read_text(encoding="utf-8"))
    database = dict(instance["storage"]["postgres"]["postgres_db"])
    assert database.pop("scheme") == "postgresql+psycopg2"  # the driver dagster-postgres needs
    # every connection setting is an env reference: no host, user or secret in the file
    assert all(isinstance(v, dict) and set(v) == {"env"} for v in database.values()), database
    for name in ("pipeline", "dagster-daemon"):
        service = config["services"][name]
        env = service["environment"]
        for value in database.values():
            assert env.get(value["env"]), f"{name}: compose does not set {value['env']}"
        assert (env["DAGSTER_PG_USER"], env["DAGSTER_PG_DB"]) == ("dagster", "dagster")
        # the instance file is the image's; only the storage folder beneath it is a volume
        assert _volume_targets(service)["dagster_home"] == f"{env['DAGSTER_HOME']}/storage"
    dockerfile = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    home = config["services"]["pipeline"]["environment"]["DAGSTER_HOME"]
    assert f"COPY docker/dagster/dagster.yaml {home}/dagster.yaml" in dockerfile
    # the pools and settings of the instance the embedded default writes (orchestration/instance.py)
    # (its SQLite event log is the embedded default's own; server mode stores in PostgreSQL)
    from orchestration.instance import instance_yaml

    dev = yaml.safe_load(instance_yaml(Path("/dagster_home")))
    assert dev.pop("event_log_storage")["module"] == "orchestration.event_storage"
    assert {k: v for k, v in instance.items() if k != "storage"} == dev


def test_dbt_never_builds_in_the_serving_schema(parsed):
    from serving.duckdb_catalog import SCHEMA

    config, _ = parsed
    env = config["services"]["pipeline"]["environment"]
    assert env["SERVING_PG_DSN"].endswith(f"/{env['DBT_PG_DATABASE']}")  # the same database
    assert env["DBT_PG_SCHEMA"] and env["DBT_PG_SCHEMA"] != SCHEMA


# -- docker/postgres/init.sh on a real server -------------------------------------------------
@pytest.fixture(scope="module")
def initialised_cluster(private_postgres_server):
    """init.sh run as the postgres image's entrypoint would, against the test server (the
    helper is shared with tests/test_server_mode.py), plus what the publisher creates later."""
    import psycopg

    with server_mode_cluster(private_postgres_server):
        # the objects the publisher (role analytics) creates later: a serving table, a mart
        with psycopg.connect(
            private_postgres_server.dsn("analytics", "analytics"), autocommit=True
        ) as c:
            c.execute("create table analytics.daily_revenue as select 1 as day, 10 as revenue")
            c.execute("create schema marts")
            c.execute("create table marts.fct_orders as select 1 as order_id")
        yield private_postgres_server


def test_init_sh_takes_every_password_compose_passes_to_postgres(parsed):
    config, _ = parsed
    passed = set(config["services"]["postgres"]["environment"]) - {"POSTGRES_USER"}
    assert set(init_sh_passwords()) == passed - {"POSTGRES_PASSWORD"}


def test_init_sh_refuses_a_missing_password(private_postgres_server):
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "docker/postgres/init.sh")],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OLTP_PASSWORD": "x" * 16},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "DAGSTER_PG_PASSWORD must be set" in result.stderr


def _try(server, database: str, user: str, sql: str) -> str:
    """'ok', or 'no connect' when the role may not connect, or the error's class name."""
    import psycopg

    try:
        with psycopg.connect(server.dsn(database, user), autocommit=True) as conn:
            conn.execute(sql)
        return "ok"
    except psycopg.OperationalError as exc:
        text = str(exc)
        if "permission denied for database" in text or "not permitted to log in" in text:
            return "no connect"
        raise
    except psycopg.Error as exc:
        return type(exc).__name__


def test_superset_reader_can_only_read_the_serving_schema(initialised_cluster):
    server = initialised_cluster
    reader = "superset_reader"
    assert _try(server, "analytics", reader, "select * from analytics.daily_revenue") == "ok"
    assert _try(server, "analytics", reader, "select * from daily_revenue") == "ok"  # search_path
    assert _try(server, "analytics", reader, "select * from marts.fct_orders") != "ok"
    assert _try(server, "analytics", reader, "create table analytics.x (i int)") != "ok"
    assert _try(server, "analytics", reader, "create table public.x (i int)") != "ok"
    assert _try(server, "analytics", reader, "delete from analytics.daily_revenue") != "ok"
    assert _try(server, "analytics", reader, "create schema mine") != "ok"
    for other in ("shop", "dagster", "superset", "lake_catalog"):
        assert _try(server, other, reader, "select 1") == "no connect", other


def test_each_role_reaches_only_its_own_database(initialised_cluster):
    server = initialised_cluster
    owners = {
        "shop": "shop",
        "dagster": "dagster",
        "superset": "superset",
        "analytics": "analytics",
        "lake_catalog": "lake_catalog",
    }
    for database, owner in owners.items():
        assert _try(server, database, owner, "create table t (i int)") == "ok", owner
        for other in set(owners) - {database}:
            assert _try(server, other, owner, "select 1") == "no connect", (
                f"{owner} can connect to {other}"
            )
    assert _try(server, "analytics", "analytics_reader", "select 1") == "no connect"  # NOLOGIN


def test_shop_role_may_replicate_for_cdc(initialised_cluster):
    import psycopg

    with psycopg.connect(initialised_cluster.dsn("shop", "shop")) as conn:
        (replication,) = conn.execute(
            "select rolreplication from pg_roles where rolname = current_user"
        ).fetchone()
        (wal_level,) = conn.execute("show wal_level").fetchone()
    assert replication is True
    assert wal_level == "logical"
