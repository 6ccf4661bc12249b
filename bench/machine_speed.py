"""How fast this machine runs Python right now: a fixed single-core workload, median of runs.

    python3 bench/machine_speed.py [--runs 5]

The machine CI runs on is shared: the same test suite took 15 min on one day and 25 on
another, the same lint 39 s and 79 s. `.ci/run` prints this figure before the tests, so that
a CI time can be read against the speed of the machine it was measured on. Standard library
only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def workload() -> int:
    """Interpreter-bound work of the kinds the suite is made of: arithmetic in loops,
    building and serialising dicts, compiling source."""
    total = 0
    for i in range(2_000_000):
        total += i * i % 7
    rows = [{"id": i, "name": f"row {i}", "amount": i * 0.01} for i in range(120_000)]
    total += len(json.loads(json.dumps(rows)))
    functions = (f"def f{i}(x):\n    return [x * {i} for _ in range(3)]" for i in range(6_000))
    source = "\n".join(functions)
    compile(source, "<bench>", "exec")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    seconds = []
    for _ in range(args.runs):
        started = time.perf_counter()
        workload()
        seconds.append(time.perf_counter() - started)
    print(
        f"machine speed: reference workload {statistics.median(seconds):.2f} s "
        f"(median of {args.runs}; min {min(seconds):.2f}, max {max(seconds):.2f})"
    )


if __name__ == "__main__":
    main()
