"""The table layer: DuckLake tables over the lake (catalog, snapshots, publish, maintenance)."""
