"""The Dagster code location (`dagster dev -m orchestration.definitions`)."""

from dagster import Definitions

from orchestration import maintenance
from orchestration.code_location import build_definitions

defs = Definitions.merge(build_definitions(), maintenance.definitions())
