"""Send everything a run writes to its standard output and error into a log file.

Dagster's loggers, dbt's output (relayed by dagster-dbt), Python warnings and the output of
child processes all end up on file descriptors 1 and 2, so those are redirected, not just
`sys.stdout`. The console yielded writes to the real terminal, for the progress lines.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console


@contextmanager
def captured_output(log_path: Path) -> Iterator[Console]:
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_out), "w", encoding="utf-8", errors="replace")
    try:
        with open(log_path, "a", encoding="utf-8") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield Console(file=terminal)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved_out, 1)
                os.dup2(saved_err, 2)
    finally:
        os.close(saved_out)
        os.close(saved_err)
        terminal.close()
