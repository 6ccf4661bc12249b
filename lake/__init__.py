"""Storage: the lake layout, URL to filesystem, atomic writes, bootstrap."""

from lake.errors import LakeError
from lake.location import Location, S3Settings, parse_lake_url
from lake.storage import LAYERS, Lake, open_lake

__all__ = ["LAYERS", "Lake", "LakeError", "Location", "S3Settings", "open_lake", "parse_lake_url"]
