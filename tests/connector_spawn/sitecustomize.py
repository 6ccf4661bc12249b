"""Put on a connector's PYTHONPATH by tests/test_external.py: Python imports this at start-up,
so the connector's multiprocessing pool starts its workers from a fresh interpreter (spawn)
instead of forking its threaded main process, whose copied locks can be held (the fork
deadlock of source-faker's pool under load)."""

import multiprocessing

multiprocessing.set_start_method("spawn", force=True)
