"""Helpers every layer may import (datagen, ingestion, lake, orchestration): nothing here
imports the project's own packages."""
