"""Asset definitions by concept: ingestion (bronze) and dbt (silver, gold)."""
