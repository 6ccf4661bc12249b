# The pipeline image: ingestion, dbt and the Dagster code location. The same image runs the
# Dagster webserver and the Dagster daemon (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH=/app/.venv/bin:$PATH \
    DATA_DIR=/data \
    DUCKDB_PATH=/data/warehouse.duckdb \
    DAGSTER_HOME=/opt/dagster/home

RUN pip install --no-cache-dir "uv==0.13.9"

# Non-root runtime user. /data and $DAGSTER_HOME/storage are named volumes in compose: a fresh
# named volume copies the ownership of the image's directory, so the user can write there.
RUN groupadd --system --gid 10001 lakehouse \
 && useradd --system --uid 10001 --gid lakehouse --home-dir /home/lakehouse --create-home \
      --shell /usr/sbin/nologin lakehouse \
 && mkdir -p /data /opt/dagster/home/storage \
 && chown lakehouse:lakehouse /data /opt/dagster/home /opt/dagster/home/storage

WORKDIR /app

# Third-party dependencies first (the layer survives code changes), exactly as locked.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

# The project itself. The venv stays root-owned (read-only to the runtime user); dbt_project
# is the user's, because dbt writes target/ and logs/ there at run time.
COPY common ./common
COPY datagen ./datagen
COPY ingestion ./ingestion
COPY lake ./lake
COPY serving ./serving
COPY warehouse ./warehouse
COPY orchestration ./orchestration
COPY connections.yml ./connections.yml
# The Dagster instance: storage on PostgreSQL from the DAGSTER_PG_* variables (no secret in
# the file). Root-owned and outside the volume, so each build ships the current one.
COPY docker/dagster/dagster.yaml /opt/dagster/home/dagster.yaml
COPY --chown=lakehouse:lakehouse dbt_project ./dbt_project
RUN uv sync --frozen --no-dev

USER lakehouse

# DuckDB's extensions (DuckLake, catalogs, httpfs) from the locked wheels into the user's
# extension directory: nothing is downloaded when the pipeline runs
RUN uv run --no-sync python -m lake.tables.extensions

# Dagster loads dbt assets from target/manifest.json and must not re-parse in every process:
# parse once, at build time. --no-sync: a plain `uv run` would sync the default groups (dev).
RUN if [ -f dbt_project/packages.yml ] || [ -f dbt_project/dependencies.yml ]; then \
      uv run --no-sync dbt deps --project-dir dbt_project --profiles-dir dbt_project; \
    fi \
 && uv run --no-sync dbt parse --project-dir dbt_project --profiles-dir dbt_project \
 && test -f dbt_project/target/manifest.json

EXPOSE 3000
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-m", "orchestration.definitions"]
