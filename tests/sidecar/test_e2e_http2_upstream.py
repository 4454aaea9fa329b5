"""End to end: the upstream protocol follows the destination port's declared protocol.

A real nginx answers with the protocol it was spoken to (`$server_protocol`) on an h2c-only
port (HTTP/2 with prior knowledge, no HTTP/1) and on an HTTP/1 port. An HTTP/1.1 client calls
three services through a real sidecar: ports declared `http2` by name prefix and
`kubernetes.io/h2c` by appProtocol reach nginx over HTTP/2; an undeclared port over HTTP/1.1.
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess

import pytest

from sidecar_mesh import free_port, stop_all, wait_port

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not shutil.which("nginx"), reason="nginx missing "
                                 "(scripts/system-deps.sh installs it)")]

NGINX = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx.err warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  server {{ listen 127.0.0.1:{h2} http2; location / {{ return 200 "$server_protocol\\n"; }} }}
  server {{ listen 127.0.0.1:{h1}; location / {{ return 200 "$server_protocol\\n"; }} }}
}}
"""


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"nginx-h2-{os.getpid()}")
    h2, h1 = free_port(), free_port()
    (tmp / "nginx.conf").write_text(NGINX.format(tmp=tmp, h2=h2, h1=h1))
    proc = subprocess.Popen(["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(h2)
        wait_port(h1)
        yield h2, h1
    finally:
        stop_all([proc])


def _service(name: str, port: dict | int, backend: int) -> dict:
    return {"name": name, "ports": [port],
            "endpoints": [{"address": "127.0.0.1", "port": backend, "labels": {}}]}


def _via_proxy(proxy_port: int, host: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=10)
    try:
        conn.request("GET", f"http://{host}/", headers={"Host": host})
        resp = conn.getresponse()
        return resp.status, resp.read().decode().strip()
    finally:
        conn.close()


def test_declared_http2_ports_get_an_http2_upstream(mesh, backends):
    h2, h1 = backends
    sc = mesh.sidecar("h2-upstream", {"version": "1", "services": [
        _service("by-name", {"port": 8080, "name": "http2-api"}, h2),
        _service("by-app-protocol", {"port": 9090, "name": "api",
                                     "appProtocol": "kubernetes.io/h2c"}, h2),
        _service("grpc-port", {"port": 7070, "protocol": "grpc"}, h2),
        _service("undeclared", 8080, h1)]}, "--service", "client")
    sc.wait_ready()
    assert _via_proxy(sc.outbound, "by-name:8080") == (200, "HTTP/2.0")
    assert _via_proxy(sc.outbound, "by-app-protocol:9090") == (200, "HTTP/2.0")
    assert _via_proxy(sc.outbound, "grpc-port:7070") == (200, "HTTP/2.0")
    assert _via_proxy(sc.outbound, "undeclared:8080") == (200, "HTTP/1.1")
    dump = sc.config_dump()["snapshot"]["services"]
    assert dump[0]["ports"] == [{"port": 8080, "name": "http2-api"}]  # kept as written


def test_an_undeclared_port_is_not_guessed(mesh, backends):
    """The control for the test above: the same h2c-only nginx behind an undeclared port gets
    HTTP/1.1, which it cannot answer: the protocol came from the declaration."""
    h2, _ = backends
    sc = mesh.sidecar("h2-undeclared", {"version": "1", "services": [
        _service("plain", 8080, h2)]}, "--service", "client")
    sc.wait_ready()
    status, _ = _via_proxy(sc.outbound, "plain:8080")
    assert status >= 500
