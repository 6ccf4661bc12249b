"""Serving: gold for dashboards, read-only. Embedded: a DuckDB catalog of views pinned to the
published DuckLake snapshot (`serving.duckdb_catalog`). Server mode: PostgreSQL's `analytics`
schema (`serving.postgres_schema`). Imports lake (storage, the table layer) and warehouse
(PostgreSQL tables); nothing below imports it."""
