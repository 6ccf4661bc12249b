#!/usr/bin/env bash
# Runs once, from /docker-entrypoint-initdb.d, when the postgres data volume is empty.
# One database per concern, each owned by its own login role; passwords come from the
# environment (docker-compose.yml requires each one) and reach SQL as psql variables, never
# spliced into the statement text. To rotate a password later use ALTER ROLE: this script
# does not run again on an initialised volume.
set -euo pipefail

: "${OLTP_PASSWORD:?OLTP_PASSWORD must be set}"
: "${DAGSTER_PG_PASSWORD:?DAGSTER_PG_PASSWORD must be set}"
: "${SUPERSET_PG_PASSWORD:?SUPERSET_PG_PASSWORD must be set}"
: "${ANALYTICS_PG_PASSWORD:?ANALYTICS_PG_PASSWORD must be set}"
: "${SERVING_PG_READER_PASSWORD:?SERVING_PG_READER_PASSWORD must be set}"
: "${LAKE_CATALOG_PASSWORD:?LAKE_CATALOG_PASSWORD must be set}"

psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}")

# Roles and databases (CREATE DATABASE cannot run inside a transaction block: one per statement).
"${psql[@]}" --dbname postgres \
  -v oltp_pw="$OLTP_PASSWORD" \
  -v dagster_pw="$DAGSTER_PG_PASSWORD" \
  -v superset_pw="$SUPERSET_PG_PASSWORD" \
  -v analytics_pw="$ANALYTICS_PG_PASSWORD" \
  -v reader_pw="$SERVING_PG_READER_PASSWORD" \
  -v lake_catalog_pw="$LAKE_CATALOG_PASSWORD" <<'SQL'
-- shop: the OLTP source. REPLICATION lets the CDC reader open a logical replication slot.
CREATE ROLE shop LOGIN REPLICATION PASSWORD :'oltp_pw';
-- dagster: Dagster instance storage (runs, events, schedules).
CREATE ROLE dagster LOGIN PASSWORD :'dagster_pw';
-- superset: Superset metadata.
CREATE ROLE superset LOGIN PASSWORD :'superset_pw';
-- analytics: dbt --target postgres (raw, staging, marts) and the publisher of the serving
-- schema (serving/postgres_schema.py; SERVING_PG_DSN).
CREATE ROLE analytics LOGIN PASSWORD :'analytics_pw';
-- lake_catalog: the lake's DuckLake catalog (which Parquet files in the bucket make up
-- silver and gold at which snapshot; LAKE_CATALOG), written by dbt and the pipeline.
CREATE ROLE lake_catalog LOGIN PASSWORD :'lake_catalog_pw';
-- analytics_reader: the group that may read the serving schema (no login of its own).
CREATE ROLE analytics_reader NOLOGIN;
-- superset_reader: the login Superset queries with (SERVING_DATABASE_URI): a member of
-- analytics_reader and nothing else; read-only transactions, the serving schema first.
CREATE ROLE superset_reader LOGIN PASSWORD :'reader_pw'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS IN ROLE analytics_reader;
ALTER ROLE superset_reader SET default_transaction_read_only = on;
ALTER ROLE superset_reader SET search_path = analytics;

CREATE DATABASE shop OWNER shop;
CREATE DATABASE dagster OWNER dagster;
CREATE DATABASE superset OWNER superset;
CREATE DATABASE analytics OWNER analytics;
CREATE DATABASE lake_catalog OWNER lake_catalog;

-- Nobody but the owner (and, for analytics, the reader) may connect.
REVOKE ALL ON DATABASE shop, dagster, superset, analytics, lake_catalog FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE shop TO shop;
GRANT CONNECT, TEMPORARY ON DATABASE dagster TO dagster;
GRANT CONNECT, TEMPORARY ON DATABASE superset TO superset;
GRANT CONNECT, TEMPORARY ON DATABASE analytics TO analytics;
GRANT CONNECT, TEMPORARY ON DATABASE lake_catalog TO lake_catalog;
GRANT CONNECT ON DATABASE analytics TO analytics_reader;
SQL

# The public schema of each database belongs to its owner (PostgreSQL 15 already denies
# CREATE there to PUBLIC).
for db in shop dagster superset lake_catalog; do
  "${psql[@]}" --dbname "$db" -c "ALTER SCHEMA public OWNER TO $db;"
done

# analytics: the serving schema, readable (never writable) by analytics_reader, including
# every table or view the publisher (role analytics) creates there later. Nothing in public:
# PostgreSQL 15 already denies CREATE there; USAGE goes too, so the reader sees one schema.
"${psql[@]}" --dbname analytics <<'SQL'
ALTER SCHEMA public OWNER TO analytics;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA analytics AUTHORIZATION analytics;
GRANT USAGE ON SCHEMA analytics TO analytics_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE analytics IN SCHEMA analytics
  GRANT SELECT ON TABLES TO analytics_reader;
SQL

echo "init.sh: databases shop, dagster, superset, analytics, lake_catalog and their roles are ready"
