"""Continuous ingestion: `lakehouse stream` reads a Kafka connection window after window,
each window one committed sync (ingestion.streaming.loop)."""
