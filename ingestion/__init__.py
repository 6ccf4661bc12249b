"""Ingestion: Airbyte-protocol style sources and the sync engine that lands them in bronze."""
