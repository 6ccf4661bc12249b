"""Free loopback ports for the servers the tests start (never a fixed port: tests run in
parallel, and other sessions share the machine)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now. The server that takes it binds a moment later: the gap
    is accepted, as every server the tests start fails loudly on a port already in use."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
