"""Free loopback ports, for the processes the local mesh, the tests and the benchmarks start."""

from __future__ import annotations

import socket


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (held together while chosen, so they differ, then released;
    a port can still be taken by someone else before its new owner binds it)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]
