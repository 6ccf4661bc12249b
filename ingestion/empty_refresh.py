"""A full refresh that reads nothing where bronze has rows: alert, and keep the old copy.

An overwrite stream's new copy replaces the old one. When the new copy is empty and the old
one is not, the likelier story is a source that read nothing by mistake (a connector handed
the state of its finished read, a wrong filter, an empty folder mounted in place) rather
than a source emptied on purpose; and replacing would delete the only copy. So a scheduled
sync keeps the old bronze (and state), writes an alert under `_ops/alerts/` and notes it in
the run record (`empty_refresh`). An explicit `lakehouse sync --full-refresh` replaces it
all the same (still with the alert): that is how an emptied source is taken as it is.
"""

from __future__ import annotations

import logging

import pyarrow.parquet as pq

from ingestion.records import StreamResult
from lake import Lake
from lake.alerts import Alert, send_alert

log = logging.getLogger(__name__)


def committed_rows(lake: Lake, keys: list[str]) -> int:
    """Rows in the given committed files (data and dead letters), from their footers."""
    total = 0
    for key in keys:
        with lake.fs.open_input_file(lake.path(key)) as f:
            total += pq.ParquetFile(f).metadata.num_rows
    return total


def guard_empty_refresh(
    lake: Lake, connection: str, result: StreamResult, old_files: list[str], explicit: bool
) -> bool:
    """Whether the stream's overwrite may go ahead; records and alerts an empty refresh."""
    if result.rows_read or not old_files:
        return True
    previous = committed_rows(lake, old_files)
    if not previous:
        return True
    where = f"{connection}.{result.stream}"
    action = "replaced by the empty read" if explicit else "kept"
    result.empty_refresh = {"previous_rows": previous, "bronze": action}
    log.warning(
        "%s: the full refresh read no record where bronze had %d: %s", where, previous, action
    )
    send_alert(
        lake,
        Alert(
            kind="empty_full_refresh",
            title=f"{where}: a full refresh read no record",
            lines=[
                f"bronze had {previous} rows; {action}",
                "an explicit `lakehouse sync --full-refresh` replaces it"
                if not explicit
                else "requested with --full-refresh",
            ],
            details={"connection": connection, "stream": result.stream, **result.empty_refresh},
        ),
    )
    return explicit


__all__ = ["committed_rows", "guard_empty_refresh"]
