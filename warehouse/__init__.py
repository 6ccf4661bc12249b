"""The lake copied into PostgreSQL for `dbt build --target postgres`: bronze streams into
`raw_<source>` (`warehouse.postgres_raw`), the pipeline's records into `raw_ops`
(`warehouse.postgres_ops`), over atomic Arrow-to-PostgreSQL table replacement
(`warehouse.postgres_tables`). Imports lake; lake never imports it."""
