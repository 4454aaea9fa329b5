"""End to end, timeouts and limits of a real sidecar against real sockets: slowloris and silent
clients are disconnected after the header timeout, idle keep-alive connections after the idle
timeout, and beyond --max-connections a request is refused at once with 503 and the reason;
under 2,000 open connections /ready still answers quickly."""

from __future__ import annotations

import resource
import socket
import time

import pytest

from sidecar_mesh import http_get

pytestmark = pytest.mark.timeout(120)


def _closed_within(sock: socket.socket, seconds: float, drip: bytes = b"") -> float | None:
    """Seconds until the peer closed (sending `drip` a byte every 0.3 s meanwhile), or None."""
    t0 = time.monotonic()
    sock.settimeout(0.3)
    i = 0
    while time.monotonic() - t0 < seconds:
        try:
            if drip and i < len(drip):
                sock.sendall(drip[i:i + 1])
                i += 1
            if sock.recv(4096) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - t0
    return None


@pytest.fixture(scope="module")
def limited(mesh):
    sc = mesh.sidecar("limits", {"version": "1"}, "--service", "x", "--header-timeout", "1",
                      "--idle-timeout", "3", "--max-connections", "40")
    sc.wait_ready()
    return sc


def test_slowloris_and_silent_clients_are_disconnected(limited):
    slow = socket.create_connection(("127.0.0.1", limited.outbound))
    head = b"GET http://x/ HTTP/1.1\r\nhost: x\r\nx-a: " + b"a" * 40
    took = _closed_within(slow, 8, drip=head)
    assert took is not None and took < 4, took  # a byte every 0.3 s does not keep it open
    silent = socket.create_connection(("127.0.0.1", limited.outbound))
    took = _closed_within(silent, 8)
    assert took is not None and took < 4, took


def test_idle_keep_alive_connections_are_closed(limited):
    sock = socket.create_connection(("127.0.0.1", limited.outbound))
    sock.sendall(b"GET http://x/ HTTP/1.1\r\nhost: x\r\n\r\n")
    sock.settimeout(5)
    assert sock.recv(4096).startswith(b"HTTP/1.1 403")  # answered (egress refused), kept open
    took = _closed_within(sock, 10)
    assert took is not None and 1.5 < took < 6, took  # the idle timeout, not the header one


def test_beyond_max_connections_requests_are_refused_fast(limited):
    held = [socket.create_connection(("127.0.0.1", limited.outbound)) for _ in range(45)]
    try:
        sock = socket.create_connection(("127.0.0.1", limited.outbound))
        t0 = time.monotonic()
        sock.sendall(b"GET http://x/ HTTP/1.1\r\nhost: x\r\n\r\n")
        sock.settimeout(5)
        reply = sock.recv(4096)
        assert time.monotonic() - t0 < 0.5
        assert reply.startswith(b"HTTP/1.1 503") and b"maxClientConnections" in reply
        sock.close()
    finally:
        for s in held:
            s.close()


def test_ready_answers_under_2000_open_connections(mesh):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 4500:
        pytest.skip(f"needs 4,500 file descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4500), hard))  # the sidecar inherits it
    sc = mesh.sidecar("crowd", {"version": "1"}, "--service", "x", "--header-timeout", "60")
    sc.wait_ready()
    held = []
    try:
        for _ in range(2000):
            held.append(socket.create_connection(("127.0.0.1", sc.outbound)))
        for s in held[:200]:  # half-sent request heads too
            s.sendall(b"GET http://x/ HTTP/1.1\r\n")
        times = []
        for _ in range(20):
            t0 = time.monotonic()
            assert http_get(sc.admin, "/ready")[0] == 200
            times.append(time.monotonic() - t0)
            time.sleep(0.05)
        print("ready times", [round(t, 3) for t in times])
        assert sorted(times)[len(times) // 2] < 0.1, times  # the median; a shared CI machine
        assert max(times[5:]) < 0.5, times
        sock = socket.create_connection(("127.0.0.1", sc.outbound))
        sock.sendall(b"GET http://x/ HTTP/1.1\r\nhost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 403")  # served (egress refused) at once
        sock.close()
    finally:
        for s in held:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
