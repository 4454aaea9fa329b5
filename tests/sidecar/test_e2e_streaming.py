"""End to end, streaming: bodies flow through a real sidecar as they arrive, both ways.

A real sidecar process, a scripted upstream (a threaded HTTP server in this process) and plain
sockets or http.client as clients. Retries keep working on streamed bodies: the decision is
taken on the response headers, and a request body is kept for a replay only up to the retry
buffer (64 KiB by default).
"""

from __future__ import annotations

import http.client
import json
import socket
import statistics
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler

import pytest

from sidecar_mesh import free_port, rule, serving

pytestmark = pytest.mark.timeout(180)

GIB = 1 << 30
BLOCK = b"x" * (1 << 20)


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    calls: Counter = Counter()
    bodies: list = []
    lock = threading.Lock()

    def _count(self) -> int:
        with self.lock:
            self.calls[self.path] += 1
            return self.calls[self.path]

    def do_GET(self):
        n = self._count()
        if self.path.startswith("/events"):  # 8 server-sent events, 200 ms apart
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for i in range(8):
                event = f"data: {json.dumps({'i': i, 'sent': time.time()})}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
                time.sleep(0.2)
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/big"):  # 1 GiB, as fast as the reader takes it
            self.send_response(200)
            self.send_header("content-length", str(GIB))
            self.end_headers()
            for _ in range(GIB // len(BLOCK)):
                self.wfile.write(BLOCK)
        elif self.path.startswith("/slow-large"):  # the first byte at once, the rest later
            self.send_response(200)
            self.send_header("content-length", str(2 * len(BLOCK)))
            self.end_headers()
            self.wfile.write(BLOCK)
            self.wfile.flush()
            time.sleep(1.0)
            try:
                self.wfile.write(BLOCK)
            except ConnectionError:
                pass  # the test has its first byte and went away
        elif self.path.startswith("/slow"):
            time.sleep(0.4)
            self._reply(200, b"slow\n")
        else:
            self._reply(200, f"{self.path} #{n}\n".encode())

    def do_POST(self):
        n = self._count()
        length = int(self.headers["content-length"])
        got, digest = 0, 0
        while got < length:
            chunk = self.rfile.read(min(1 << 20, length - got))
            if not chunk:
                break
            got += len(chunk)
            digest = (digest + sum(chunk[::4096])) & 0xFFFFFFFF
        if length <= 1 << 20:
            with self.lock:
                self.bodies.append((self.path, self.headers.get("host"), got))
        if self.path.startswith("/flaky") and n == 1:
            self._reply(503, b"first try fails\n")
        else:
            self._reply(200, f"{got} {digest}\n".encode())

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def upstream():
    with serving(Upstream) as port:
        yield port


def _doc(version, port, spec=None, mirror_port=None):
    endpoints = [{"address": "127.0.0.1", "port": port, "labels": {"version": "v1"}}]
    if mirror_port:
        endpoints.append({"address": "127.0.0.1", "port": mirror_port, "labels": {"version": "v2"}})
    rules = []
    if spec is not None:
        rules.append(rule("RouteRule", "stream", {"destination": {"name": "stream"},
                                                  "route": [{"labels": {"version": "v1"}}],
                                                  **spec}))
    return {"version": version, "services": [{"name": "stream", "endpoints": endpoints}],
            "rules": rules}


@pytest.fixture(scope="module")
def sidecar(mesh, upstream):
    sc = mesh.sidecar("streaming", _doc("0", upstream), "--service", "client")
    sc.wait_ready()
    return sc


def _rss_peak_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return int(next(line for line in fh if line.startswith("VmHWM")).split()[1])


def _request(port: int, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head.encode())
    return sock


def test_server_sent_events_arrive_as_they_are_sent(sidecar, upstream):
    sidecar.apply(_doc("sse", upstream))
    conn = http.client.HTTPConnection("127.0.0.1", sidecar.outbound, timeout=10)
    conn.request("GET", "http://stream/events")
    r = conn.getresponse()
    assert r.status == 200
    lags = []
    while len(lags) < 8:
        line = r.fp.readline()
        assert line, "the stream ended early"
        if line.startswith(b"data: "):
            lags.append(time.time() - json.loads(line[6:])["sent"])
    conn.close()
    # each event is relayed on its own (all at the end would mean lags of 1.4 s down to 0)
    assert statistics.median(lags) < 0.05, lags
    assert max(lags) < 0.25, lags


def test_a_gigabyte_downloads_with_bounded_memory(sidecar, upstream):
    sidecar.apply(_doc("download", upstream))
    sock = _request(sidecar.outbound, "GET http://stream/big HTTP/1.1\r\nhost: stream\r\n\r\n")
    buf, total, head = bytearray(1 << 20), 0, b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    header, _, rest = head.partition(b"\r\n\r\n")
    assert header.startswith(b"HTTP/1.1 200")
    total = len(rest)
    view = memoryview(buf)
    while total < GIB:
        n = sock.recv_into(view)
        assert n, f"closed after {total} bytes"
        total += n
    sock.close()
    assert total == GIB
    assert _rss_peak_kib(sidecar.proc.pid) < 100 * 1024


def test_a_gigabyte_uploads_with_bounded_memory(sidecar, upstream):
    sidecar.apply(_doc("upload", upstream))
    sock = _request(sidecar.outbound, f"POST http://stream/upload HTTP/1.1\r\nhost: stream\r\n"
                                      f"content-length: {GIB}\r\n\r\n")
    for _ in range(GIB // len(BLOCK)):
        sock.sendall(BLOCK)
    reply = b""
    while b"\n" not in reply.partition(b"\r\n\r\n")[2]:
        chunk = sock.recv(4096)
        assert chunk, reply
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 200")
    assert reply.partition(b"\r\n\r\n")[2].split()[0] == str(GIB).encode()
    assert _rss_peak_kib(sidecar.proc.pid) < 100 * 1024


def test_the_first_byte_is_not_held_back(sidecar, upstream):
    sidecar.apply(_doc("first-byte", upstream))
    def first_byte(port: int, target: str) -> float:
        t0 = time.monotonic()
        sock = _request(port, f"GET {target} HTTP/1.1\r\nhost: stream\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got or len(got.partition(b"\r\n\r\n")[2]) == 0:
            got += sock.recv(65536)
        elapsed = time.monotonic() - t0
        sock.close()
        return elapsed

    direct = first_byte(upstream, "/slow-large")
    proxied = first_byte(sidecar.outbound, "http://stream/slow-large")
    assert proxied < direct + 0.1 and proxied < 0.5, (direct, proxied)


def test_small_bodies_are_retried_large_ones_sent_once(sidecar, upstream):
    sidecar.apply(_doc("retry-buffer", upstream, {"httpReqRetries": {"simpleRetry": {
        "attempts": 2, "perTryTimeout": "2s"}}}))
    conn = http.client.HTTPConnection("127.0.0.1", sidecar.outbound, timeout=10)
    conn.request("POST", "http://stream/flaky-small", body=b"s" * 1000)
    r = conn.getresponse()
    assert (r.status, r.getheader("x-meshtool-attempts")) == (200, "2")
    assert r.read().split()[0] == b"1000"  # the replayed body arrived whole
    conn.request("POST", "http://stream/flaky-large", body=b"L" * (200 * 1024))
    r = conn.getresponse()
    assert (r.status, r.getheader("x-meshtool-attempts")) == (503, "1")  # streamed: not replayed
    r.read()
    conn.close()


def test_per_try_timeout_moves_on_and_connect_failure_answers_503(sidecar, upstream):
    sidecar.apply(_doc("per-try", upstream, {"httpReqRetries": {"simpleRetry": {
        "attempts": 1, "perTryTimeout": "100ms"}}}))
    conn = http.client.HTTPConnection("127.0.0.1", sidecar.outbound, timeout=10)
    conn.request("GET", "http://stream/slow")
    r = conn.getresponse()
    r.read()
    assert (r.status, r.getheader("x-meshtool-attempts")) == (504, "2")
    assert r.getheader("x-meshtool-error") == "upstream request timeout"
    conn.close()
    sidecar.apply(_doc("refused", free_port()))
    conn = http.client.HTTPConnection("127.0.0.1", sidecar.outbound, timeout=10)
    conn.request("GET", "http://stream/anything")
    r = conn.getresponse()
    r.read()
    assert r.status == 503
    assert r.getheader("x-meshtool-error").startswith("upstream connect error")
    conn.close()


def test_mirror_gets_a_shadow_copy_with_the_body(sidecar, upstream):
    Upstream.bodies.clear()
    sidecar.apply(_doc("mirror", upstream, {"mirror": {"name": "stream",
                                                       "labels": {"version": "v2"}}},
                       mirror_port=upstream))
    conn = http.client.HTTPConnection("127.0.0.1", sidecar.outbound, timeout=10)
    conn.request("POST", "http://stream/copied", body=b"m" * 5000)
    r = conn.getresponse()
    assert r.status == 200
    r.read()
    conn.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(Upstream.bodies) < 2:
        time.sleep(0.02)
    hosts = sorted(h for p, h, n in Upstream.bodies if p == "/copied" and n == 5000)
    assert hosts == ["stream", "stream-shadow"]
