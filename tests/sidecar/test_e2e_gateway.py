"""End to end: client -> `meshtool gateway run` -> sidecar -> app, all real processes.

A local mesh (control plane, magnanimo and benigno v1/v2 with their sidecars, one gateway with
two certificates) is started once; Ingress rules are written to its store as `meshtool
create` does, and requests come from outside with http.client and curl.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from meshtool.controlplane.inspect import fetch_sync_table
from meshtool.localmesh.demo import apply_files, wait_synced
from meshtool.localmesh.meshfile import load_meshfile
from meshtool.localmesh.supervisor import down, up
from meshtool.ports import free_port
from meshtool.store import open_store
from meshtool.testing.certs import self_signed

SERVICES = Path(__file__).resolve().parents[2] / "samples" / "services"
WALKTHROUGH_INGRESS = Path(__file__).resolve().parents[2] / "samples" / "ingress" / "ingress.yaml"

MESH = f"""\
apiVersion: local.meshtool.io/v1alpha1
kind: LocalMesh
metadata:
  name: gwtest
spec:
  services:
    - name: magnanimo
      port: 4000
      version: v1
      command: ["{{python}}", "{SERVICES}/magnanimo.py", "--port", "{{port}}"]
    - name: benigno
      port: 5000
      version: v1
      command: ["{{python}}", "{SERVICES}/benigno.py", "--port", "{{port}}", "--version", "v1"]
    - name: benigno
      port: 5000
      version: v2
      command: ["{{python}}", "{SERVICES}/benigno.py", "--port", "{{port}}", "--version", "v2"]
  gateways:
    - name: edge
      tls:
        - {{cert: a.example.com.pem, key: a.example.com-key.pem}}
        - {{cert: b.example.com.pem, key: b.example.com-key.pem}}
"""

SECURE_INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: secure
spec:
  ingressClassName: meshtool
  tls:
  - hosts: [a.example.com]
    secretName: a-example-com
  rules:
  - host: a.example.com
    http:
      paths:
      - path: /exact
        pathType: Exact
        backend:
          service:
            name: benigno
            port:
              number: 5000
  - host: b.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: magnanimo
            port:
              number: 4000
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gateway")
    self_signed(tmp, "a.example.com")
    self_signed(tmp, "b.example.com")
    (tmp / "mesh.yaml").write_text(MESH)
    (tmp / "secure.yaml").write_text(SECURE_INGRESS)
    state_dir = tmp / "state"
    store = str(tmp / "store.db")
    state = up(load_meshfile(tmp / "mesh.yaml"), state_dir, store=store,
               control_plane_port=free_port(), timeout=60)
    try:
        with open_store(store) as st:
            _, revision = apply_files(st, [str(WALKTHROUGH_INGRESS), str(tmp / "secure.yaml")])
        wait_synced(state, revision, len(state.proxies()), 60)
        yield state, tmp, store
    finally:
        down(state_dir)


def get(port: int, path: str, host: str | None = None) -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode()
    finally:
        conn.close()


def gateway_port(state, kind: str = "http") -> int:
    return state.find("edge", "gateway").ports[kind]


def test_walkthrough_ingress_strips_the_prefix_and_reaches_benigno_through_magnanimo(mesh):
    state, _, _ = mesh
    # /route1/hw2 reaches magnanimo as /hw2 (else magnanimo would answer its own greeting)
    status, _, body = get(gateway_port(state), "/route1/hw2")
    assert status == 200 and "Hello World, Benigno" in body
    status, _, body = get(gateway_port(state), "/route1")
    assert (status, body.strip()) == (200, "Hello World, Magnanimo")
    status, _, _ = get(gateway_port(state), "/route1x")  # segments, not characters
    assert status == 404


def test_the_canary_split_applies_behind_the_gateway_exactly(mesh):
    state, _, store = mesh
    with open_store(store) as st:
        _, revision = apply_files(st, [str(SERVICES.parent / "canary/rules/route-90-10.yaml")])
    wait_synced(state, revision, len(state.proxies()), 30)
    seen = Counter()
    for _ in range(100):
        status, _, body = get(gateway_port(state), "/route1/hw2")
        assert status == 200
        seen["v2" if "Canary Release" in body else "v1"] += 1
    assert seen == {"v1": 90, "v2": 10}


def test_unknown_host_gets_404_with_a_clear_body(mesh):
    state, _, _ = mesh
    status, headers, body = get(gateway_port(state), "/anything", host="nobody.example.org")
    assert status == 404
    assert headers.get("x-meshtool-error") == "no route"
    assert body == ("no route: this meshtool gateway has no route for host 'nobody.example.org' "
                    "and path '/anything'\n")


def test_proxy_status_has_a_gateway_row(mesh):
    state, _, _ = mesh
    table = fetch_sync_table(state.control_plane)
    rows = {p["proxyId"]: p for p in table["proxies"]}
    assert rows["edge.gwtest"]["kind"] == "gateway"
    assert rows["edge.gwtest"]["status"] == "SYNCED"
    assert {p["kind"] for p in table["proxies"] if p["proxyId"] != "edge.gwtest"} == {"sidecar"}
    r = subprocess.run([sys.executable, "-m", "meshtool", "proxy-status", "--control-plane",
                        state.control_plane], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    row = next(line.split() for line in r.stdout.splitlines() if line.startswith("edge.gwtest"))
    assert row[1:3] == ["gateway", "meshtool-gateway"]


def test_a_host_with_tls_is_redirected_from_http_to_https(mesh):
    state, _, _ = mesh
    status, headers, _ = get(gateway_port(state), "/exact?x=1", host="a.example.com")
    assert status == 301
    assert headers["location"] == f"https://a.example.com:{gateway_port(state, 'https')}/exact?x=1"
    status, _, _ = get(gateway_port(state), "/", host="b.example.com")  # no tls: served as is
    assert status == 200


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed "
                                                         "(scripts/system-deps.sh installs it)")
@pytest.mark.parametrize("host, path, body, other_cert", [
    ("a.example.com", "/exact", "Hello World, Benigno", "b.example.com.pem"),
    ("b.example.com", "/", "Hello World, Magnanimo", "a.example.com.pem"),
])
def test_tls_termination_picks_the_certificate_by_sni_and_speaks_h2(mesh, host, path, body,
                                                                  other_cert):
    state, tmp, _ = mesh
    port = gateway_port(state, "https")
    base = ["curl", "-sS", "--max-time", "15", "--resolve", f"{host}:{port}:127.0.0.1",
            f"https://{host}:{port}{path}"]
    r = subprocess.run([*base, "--cacert", str(tmp / f"{host}.pem"), "--http2", "-w",
                        "\n%{http_code} %{http_version}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text, status = r.stdout.rsplit("\n", 1)
    assert body in text and status == "200 2"
    r = subprocess.run([*base, "--cacert", str(tmp / f"{host}.pem"), "--http1.1", "-w",
                        "\n%{http_version}"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.endswith("\n1.1"), r.stderr
    # the other name's certificate does not verify this one: the SNI chose
    r = subprocess.run([*base, "--cacert", str(tmp / other_cert)], capture_output=True, text=True)
    assert r.returncode == 60, (r.returncode, r.stderr)


GATEWAY_API = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: edge
spec:
  gatewayClassName: meshtool
  listeners:
  - name: web
    port: 8080
    protocol: HTTP
    hostname: api.example.com
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: api
spec:
  parentRefs:
  - name: edge
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /api
    filters:
    - type: URLRewrite
      urlRewrite:
        path:
          type: ReplacePrefixMatch
          replacePrefixMatch: /
    backendRefs:
    - name: magnanimo
      port: 4000
"""


def test_a_gateway_api_httproute_with_a_gateway_parent_is_served(mesh):
    state, tmp, store = mesh
    (tmp / "gateway-api.yaml").write_text(GATEWAY_API)
    with open_store(store) as st:
        _, revision = apply_files(st, [str(tmp / "gateway-api.yaml")])
    wait_synced(state, revision, len(state.proxies()), 30)
    status, _, body = get(gateway_port(state), "/api/hw2", host="api.example.com")
    assert status == 200 and "Hello World, Benigno" in body
    status, _, _ = get(gateway_port(state), "/api/hw2", host="other.example.com")
    assert status == 404  # the listener's hostname bounds the route
