"""End to end, HTTP/1.1 edge cases through a real sidecar, from a raw socket to a real server:
100-continue, request smuggling (Content-Length with Transfer-Encoding, two different
Content-Lengths) refused with 400 before anything reaches the server, an over-long request
head refused with 431, and a large head under the limit passed (the control)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sidecar_mesh import free_port

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def backend():
    seen: list[str] = []

    class Echo(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            seen.append(self.path)
            self.send_response(200)
            self.send_header("content-length", str(len(body) + 5))
            self.end_headers()
            self.wfile.write(b"echo " + body)

        do_GET = do_POST

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()


@pytest.fixture(scope="module")
def sidecar(mesh, backend):
    port, _ = backend
    sc = mesh.sidecar("http1-edges", {"version": "1", "services": [{"name": "echo", "endpoints": [
        {"address": "127.0.0.1", "port": port, "labels": {}}]}]}, "--service", "client")
    sc.wait_ready()
    return sc


@pytest.fixture(scope="module")
def proxy(sidecar):
    return sidecar.outbound


def _send(port: int, head: bytes, body: bytes = b"", read_interim: bool = False):
    """(interim response before the body was sent, the final response bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        interim = b""
        if read_interim:
            while b"\r\n\r\n" not in interim:
                interim += s.recv(4096)
        s.sendall(body)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and (b"echo" in out or out.startswith(b"HTTP/1.1 4")):
                head_end = out.index(b"\r\n\r\n") + 4
                length = [int(line.split(b":")[1]) for line in out[:head_end].split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(out) >= head_end + length[0]:
                    break
        return interim, out


def test_expect_100_continue_gets_the_interim_response_before_the_body(proxy, backend):
    head = (b"POST http://echo/continue HTTP/1.1\r\nHost: echo\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n")
    interim, final = _send(proxy, head, b"hello", read_interim=True)
    assert interim.startswith(b"HTTP/1.1 100 ")
    assert final.startswith(b"HTTP/1.1 200 ") and final.endswith(b"echo hello")
    assert "/continue" in backend[1]


@pytest.mark.parametrize("name,head", [
    ("cl-and-te", b"POST http://echo/smuggled-te HTTP/1.1\r\nHost: echo\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n"),
    ("two-lengths", b"POST http://echo/smuggled-cl HTTP/1.1\r\nHost: echo\r\nContent-Length: 5\r\n"
                    b"Content-Length: 40\r\n\r\nhello"),
])
def test_request_smuggling_is_refused_before_reaching_the_server(proxy, backend, name, head):
    _, final = _send(proxy, head)
    assert final.startswith(b"HTTP/1.1 400 "), final[:200]
    assert not any(p.startswith("/smuggled") or p == "/x" for p in backend[1])


def test_an_over_long_request_head_is_refused_with_431(proxy, backend):
    # 70 headers of 1 KiB: each line is short enough for the server, the whole head is not
    many = b"".join(b"X-Big-%d: %s\r\n" % (i, b"x" * 1024) for i in range(70))
    _, final = _send(proxy, b"GET http://echo/big HTTP/1.1\r\nHost: echo\r\n" + many + b"\r\n")
    assert final.startswith(b"HTTP/1.1 431 "), final[:200]
    assert b"request head over 61440 bytes" in final  # the sidecar's answer, not the server's
    assert "/big" not in backend[1]


def test_a_large_head_under_the_limit_passes(proxy, backend):
    many = b"".join(b"X-Big-%d: %s\r\n" % (i, b"y" * 1024) for i in range(40))
    _, final = _send(proxy, b"GET http://echo/large HTTP/1.1\r\nHost: echo\r\n" + many
                     + b"\r\n")
    assert final.startswith(b"HTTP/1.1 200 ") and final.endswith(b"echo ")
    assert "/large" in backend[1]


def test_bytes_of_each_connection_reach_the_metrics_when_it_closes(sidecar, proxy):
    import re
    import time

    def totals() -> tuple[float, float]:
        text = sidecar.metrics()
        got = [float(re.search(rf'^meshtool_tcp_connection_{way}_bytes_sum\{{direction='
                               rf'"outbound"\}} (\S+)$', text, re.M).group(1))
               if f"meshtool_tcp_connection_{way}_bytes_sum" in text else 0.0
               for way in ("received", "sent")]
        return got[0], got[1]

    before, settled = totals(), time.monotonic() + 10
    while time.monotonic() < settled:  # earlier tests' connections are all counted
        time.sleep(0.2)
        if (now := totals()) == before:
            break
        before = now
    head = b"POST http://echo/count HTTP/1.1\r\nHost: echo\r\nContent-Length: 3\r\n\r\n"
    _, final = _send(proxy, head, b"abc")
    assert final.endswith(b"echo abc")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = totals()
        if after[0] - before[0] >= len(head) + 3 and after[1] - before[1] >= len(final):
            break
        time.sleep(0.05)
    assert after[0] - before[0] == len(head) + 3  # exactly what this client sent
    assert after[1] - before[1] == len(final)  # exactly what it received
