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
: "${ANALYTICS_READER_PASSWORD:?ANALYTICS_READER_PASSWORD must be set}"

psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}")

# Roles and databases (CREATE DATABASE cannot run inside a transaction block: one per statement).
"${psql[@]}" --dbname postgres \
  -v oltp_pw="$OLTP_PASSWORD" \
  -v dagster_pw="$DAGSTER_PG_PASSWORD" \
  -v superset_pw="$SUPERSET_PG_PASSWORD" \
  -v analytics_pw="$ANALYTICS_PG_PASSWORD" \
  -v reader_pw="$ANALYTICS_READER_PASSWORD" <<'SQL'
-- shop: the OLTP source. REPLICATION lets the CDC reader open a logical replication slot.
CREATE ROLE shop LOGIN REPLICATION PASSWORD :'oltp_pw';
-- dagster: Dagster instance storage (runs, events, schedules).
CREATE ROLE dagster LOGIN PASSWORD :'dagster_pw';
-- superset: Superset metadata.
CREATE ROLE superset LOGIN PASSWORD :'superset_pw';
-- analytics: dbt --target postgres (raw, staging, marts and the serving schema).
CREATE ROLE analytics LOGIN PASSWORD :'analytics_pw';
-- analytics_reader: what Superset queries with; SELECT on the serving schema only.
CREATE ROLE analytics_reader LOGIN PASSWORD :'reader_pw';

CREATE DATABASE shop OWNER shop;
CREATE DATABASE dagster OWNER dagster;
CREATE DATABASE superset OWNER superset;
CREATE DATABASE analytics OWNER analytics;

-- Nobody but the owner (and, for analytics, the reader) may connect.
REVOKE ALL ON DATABASE shop, dagster, superset, analytics FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE shop TO shop;
GRANT CONNECT, TEMPORARY ON DATABASE dagster TO dagster;
GRANT CONNECT, TEMPORARY ON DATABASE superset TO superset;
GRANT CONNECT, TEMPORARY ON DATABASE analytics TO analytics;
GRANT CONNECT ON DATABASE analytics TO analytics_reader;
SQL

# The public schema of each database belongs to its owner (PostgreSQL 15 already denies
# CREATE there to PUBLIC).
for db in shop dagster superset; do
  "${psql[@]}" --dbname "$db" -c "ALTER SCHEMA public OWNER TO $db;"
done

# analytics: the serving schema, readable (never writable) by analytics_reader, including
# every table or view dbt creates there later.
"${psql[@]}" --dbname analytics <<'SQL'
ALTER SCHEMA public OWNER TO analytics;
CREATE SCHEMA analytics AUTHORIZATION analytics;
GRANT USAGE ON SCHEMA analytics TO analytics_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE analytics IN SCHEMA analytics
  GRANT SELECT ON TABLES TO analytics_reader;
SQL

echo "init.sh: databases shop, dagster, superset, analytics and their roles are ready"
