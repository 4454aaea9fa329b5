"""End to end: request and response header changes of a route, and CORS headers on real
responses, through a real sidecar to a real upstream (a threaded HTTP server in this process)
whose responses are streamed (chunked, in several writes) as well as sized."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest

from sidecar_mesh import ProxyClient, rule, serving

pytestmark = pytest.mark.timeout(120)


class Echo(BaseHTTPRequestHandler):
    """Answers with the request headers it got, as JSON; /chunked streams it in three writes."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({k.lower(): self.headers.get_all(k) for k in self.headers.keys()}).encode()
        self.send_response(200)
        self.send_header("server", "echo")
        self.send_header("x-upstream", "1")
        if self.path.startswith("/chunked"):
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for part in (body[:5], body[5:], b""):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.wfile.flush()
            return
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def upstream():
    with serving(Echo) as port:
        yield port


def _doc(version, port, spec):
    return {"version": version, "services": [{"name": "echo", "endpoints": [
        {"address": "127.0.0.1", "port": port, "labels": {"version": "v1"}}]}],
        "rules": [rule("RouteRule", "echo", {"destination": {"name": "echo"}, **spec})]}


@pytest.fixture(scope="module")
def sidecar(mesh, upstream):
    sc = mesh.sidecar("headers", _doc("0", upstream, {}), "--service", "client")
    sc.wait_ready()
    return sc


@pytest.mark.parametrize("path", ["/sized", "/chunked"])
def test_route_header_changes_reach_both_ends(sidecar, upstream, path):
    sidecar.apply(_doc(f"headers{path}", upstream, {
        "requestHeaders": {"set": {"x-env": "canary"}, "add": {"x-tag": "b"},
                           "remove": ["x-debug"]},
        "responseHeaders": {"set": {"x-served-by": "mesh"}, "remove": ["server", "x-upstream"]}}))
    client = ProxyClient(sidecar.outbound)
    status, headers, body = client.get(f"http://echo{path}", headers={
        "x-env": "prod", "x-tag": "a", "x-debug": "1"})
    client.close()
    assert status == 200
    seen = json.loads(body)  # what the upstream got
    assert seen["x-env"] == ["canary"] and "x-debug" not in seen
    assert seen["x-tag"] == ["a", "b"]  # added after the caller's value
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower.get("x-served-by") == "mesh"
    assert "server" not in lower and "x-upstream" not in lower


def test_cors_headers_reach_the_client_on_a_streamed_response(sidecar, upstream):
    sidecar.apply(_doc("cors", upstream, {"corsPolicy": {
        "allowOrigin": ["https://app.example.com"], "exposeHeaders": ["x-upstream"]}}))
    client = ProxyClient(sidecar.outbound)
    _, headers, _ = client.get("http://echo/chunked", headers={"origin": "https://app.example.com"})
    client.close()
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower.get("access-control-allow-origin") == "https://app.example.com"
    assert lower.get("access-control-expose-headers") == "x-upstream"
