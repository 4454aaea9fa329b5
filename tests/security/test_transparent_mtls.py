"""mTLS between two pods' sidecars in transparent mode, with real processes in network namespaces.

A node namespace (bridge + control plane with the mesh CA) and two pods, each with
`meshtool proxy init`'s iptables rules and a transparent sidecar as UID 1337: magnanimo's app
calls http://benigno:5000/hw2 with no proxy settings; its sidecar originates mTLS to benigno's
pod address, where benigno's sidecar terminates it. tcpdump on benigno's veth sees TLS records
only; a client on the node without a sidecar reaches benigno in plaintext under PERMISSIVE and is
refused under STRICT (as is a TLS client without a mesh certificate), while magnanimo still
gets through. Needs root, iproute2, iptables, setpriv, curl, tcpdump (scripts/system-deps.sh).
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pods import MESHTOOL, ROOT, TCP_CLIENT, TCP_SERVER, Cluster, skip_reason  # noqa: E402
from test_wire import tcp_payloads  # noqa: E402

from meshtool.testing.wait import wait_for  # noqa: E402

pytestmark = pytest.mark.timeout(180)

SERVICES = ROOT / "samples" / "services"
MARKER = "x-marker-pod-to-pod-5d1e"
BENIGNO_ID = "spiffe://cluster.local/ns/default/sa/benigno"
MAGNANIMO_ID = "spiffe://cluster.local/ns/default/sa/magnanimo"


@pytest.fixture(scope="module")
def cluster():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    c = Cluster()
    try:
        c.setup()
        store = c.dir / "store.db"
        cp = f"{c.node.address}:15010"
        c.node.start(*MESHTOOL, "control-plane", "--store", str(store), "--listen", cp,
                     "--ca-dir", str(c.dir / "ca"), log="control-plane.log",
                     env={"MESHTOOL_STORE": str(store)})
        benigno, magnanimo = c.add_pod("benigno", 2), c.add_pod("magnanimo", 3)
        c.hosts = {"benigno": f"{c.net}.100"}  # a service address: captured, never reached
        c.write_hosts()
        benigno.start(sys.executable, str(SERVICES / "benigno.py"), "--host", "127.0.0.1",
                      "--port", "5000", log="app.log")
        magnanimo.start(sys.executable, str(SERVICES / "magnanimo.py"), "--host", "0.0.0.0",
                        "--port", "4000", "--benigno", "http://benigno:5000/hw2", log="app.log")
        store_pod = c.add_pod("store", 4)
        store_pod.start(sys.executable, "-c", TCP_SERVER, log="app.log")
        c.inject(benigno, "benigno", 5000, cp, "version=v1")
        c.inject(magnanimo, "magnanimo", 4000, cp, "version=v1")
        c.inject(store_pod, "store", 7000, cp, "version=v1")
        c.store = store
        yield c
    finally:
        c.teardown()


def _mesh_call(c: Cluster, path: str = "/hw2") -> str:
    """magnanimo's pod calls benigno by name, no proxy settings: its sidecar captures it."""
    r = c.pods["magnanimo"].curl(f"http://benigno:5000{path}", "-H", f"{MARKER}: 1")
    return r.stdout


def _plain_call(c: Cluster) -> subprocess.CompletedProcess:
    """From the node, where no sidecar runs: plaintext to benigno's pod address."""
    return c.node.curl(f"http://{c.pods['benigno'].address}:5000/hw2")


def _metrics(c: Cluster, pod: str) -> str:
    return c.pods[pod].curl("http://127.0.0.1:15020/stats/prometheus").stdout


def test_sidecars_in_pods_get_certificates_of_their_service_accounts(cluster):
    assert cluster.wait_certified(cluster.pods["benigno"])["spiffeId"] == BENIGNO_ID
    assert cluster.wait_certified(cluster.pods["magnanimo"])["spiffeId"] == MAGNANIMO_ID


def test_pod_to_pod_over_mtls_and_only_tls_on_the_wire(cluster):
    for name in ("benigno", "magnanimo"):
        cluster.wait_certified(cluster.pods[name])
    # benigno's endpoint carries its identity once the control plane pushed it
    wait_for(lambda: "Hello World, Benigno" in _mesh_call(cluster), 30, interval=0.2,
             what="magnanimo's pod reaches benigno")
    dump = cluster.dir / "wire.pcap"
    tcpdump = cluster.node.start("tcpdump", "-i", "v2", "-U", "--immediate-mode", "-w",
                                 str(dump), "tcp port 5000", log="tcpdump.log")
    # tcpdump says "listening on" once its filter is attached and its file opened
    wait_for(lambda: "listening on" in cluster.node.log("tcpdump.log"), 10,
             what="tcpdump listening")
    bodies = [_mesh_call(cluster, f"/{MARKER}") for _ in range(3)]
    # from the node into magnanimo's pod, whose app calls benigno through both sidecars
    via_app = cluster.node.curl(f"http://{cluster.pods['magnanimo'].address}:4000/hw2")
    plain = _plain_call(cluster)  # PERMISSIVE: accepted, and the capture must show it
    sizes: list[int] = []
    wait_for(lambda: sizes.append(dump.stat().st_size) or
             (len(sizes) > 5 and sizes[-1] == sizes[-6]), 10, what="capture settled")
    tcpdump.terminate()
    tcpdump.wait(10)
    assert all("Hello World, Benigno" in b for b in bodies), bodies
    assert "Hello World, Benigno" in via_app.stdout, cluster.pods["magnanimo"].log("app.log")
    assert "Hello World, Benigno" in plain.stdout, plain
    wire = tcp_payloads(dump, 5000)
    assert b"GET /hw2" in wire["to"]  # the plaintext client's request: the capture sees it
    assert MARKER.encode() not in wire["to"] and MARKER.encode() not in wire["from"]
    assert b"\x16\x03\x01" in wire["to"] or b"\x16\x03\x03" in wire["to"]  # a ClientHello
    assert b"\x17\x03\x03" in wire["to"] and b"\x17\x03\x03" in wire["from"]
    metrics = _metrics(cluster, "benigno")
    assert f'security="mutual_tls",source="{MAGNANIMO_ID}"' in metrics
    assert f'security="plaintext",source="{cluster.node.address}"' in metrics


def _tls_without_mesh_certificate(c: Cluster) -> str:
    """A TLS client that has no mesh certificate: "answered", "closed" or "refused ERROR"."""
    out = c.node.run(sys.executable, "-c", (
        "import socket, ssl, sys\n"
        "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False\n"
        "ctx.verify_mode = ssl.CERT_NONE\n"
        "s = socket.create_connection((sys.argv[1], 5000), timeout=5)\n"
        "try:\n"
        "    t = ctx.wrap_socket(s); t.sendall(b'GET / HTTP/1.1\\r\\nHost: b\\r\\n\\r\\n')\n"
        "    print('answered' if t.recv(100) else 'closed')\n"
        "except (ssl.SSLError, OSError) as exc:\n"
        "    print('refused', type(exc).__name__)\n"), c.pods["benigno"].address, check=False)
    return out.stdout.strip()


def test_strict_refuses_plaintext_from_a_pod_without_sidecar(cluster):
    wait_for(lambda: "Hello World, Benigno" in _mesh_call(cluster), 30, interval=0.2,
             what="mesh path up")
    assert "Hello World, Benigno" in _plain_call(cluster).stdout
    created = subprocess.run([*MESHTOOL, "create", "--store", str(cluster.store), "-f",
                              str(ROOT / "samples/mtls/istio/peer-authentication-strict.yaml")],
                             capture_output=True, text=True, cwd=ROOT)
    assert created.returncode == 0, created.stderr
    # curl exits 52 (empty reply) or 56 (reset): closed before a byte reached the app
    wait_for(lambda: _plain_call(cluster).returncode in (52, 56), 20, interval=0.2,
             what="STRICT refuses plaintext")
    assert "Hello World, Benigno" in _mesh_call(cluster)
    # TLS 1.3 finishes the client's side of the handshake before the server checks its
    # certificate: the refusal is an alert or a close, never an answer
    assert _tls_without_mesh_certificate(cluster).split()[0] in ("refused", "closed")
    metrics = _metrics(cluster, "benigno")
    assert f'security="refused",source="{cluster.node.address}"' in metrics
    assert 'security="tls_failed"' in metrics
    dump = json.loads(cluster.pods["benigno"].curl("http://127.0.0.1:15020/config_dump").stdout)
    assert "STRICT" in json.dumps(dump)


# -- traffic permissions on opaque TCP, by peer identity, at connection time -------------------

def _tcp_call(c: Cluster, ns) -> dict:
    r = ns.run(sys.executable, "-c", TCP_CLIENT, c.pods["store"].address, check=False)
    return json.loads(r.stdout)


def _apply(c: Cluster, name: str, action: str, to: dict) -> None:
    doc = {"apiVersion": "config.meshtool.io/v1alpha1", "kind": "AccessPolicy",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"destination": {"name": "store"}, "action": action, "rules": [{
               "from": [{"principals": ["cluster.local/ns/default/sa/magnanimo"]}],
               "to": [to]}]}}
    path = c.dir / f"{name}.yaml"  # JSON is YAML; delete -f reads .yaml
    path.write_text(json.dumps(doc))
    r = subprocess.run([*MESHTOOL, "apply", "--store", str(c.store), "-f", str(path)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def _delete(c: Cluster, name: str) -> None:
    r = subprocess.run([*MESHTOOL, "delete", "--store", str(c.store), "-f",
                        str(c.dir / f"{name}.yaml")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


def test_tcp_permissions_by_peer_identity_at_connection_time(cluster):
    c, mag, node = cluster, cluster.pods["magnanimo"], cluster.node
    c.wait_certified(c.pods["store"])
    ok = "store ready\necho ping"
    # server-first TCP over mTLS between the pods: the greeting, then the echo
    wait_for(lambda: _tcp_call(c, mag)["got"] == ok, 30, interval=0.2, what="TCP over mTLS")
    assert f'security="mutual_tls",source="{MAGNANIMO_ID}"' in _metrics(c, "store")

    _apply(c, "store-deny", "DENY", {"ports": [7000]})
    wait_for(lambda: _tcp_call(c, mag)["got"] == "", 20, interval=0.2, what="DENY closes it")
    assert _tcp_call(c, node)["got"] == ok  # plaintext from the node: not magnanimo
    denied = "meshtool_permission_denied_connections_total{" \
        f'policy="DENY default/store-deny",source="{MAGNANIMO_ID}"}}'
    assert denied in _metrics(c, "store")
    _delete(c, "store-deny")

    # an ALLOW rule that needs HTTP (a method) never matches a TCP connection: closed
    _apply(c, "store-allow", "ALLOW", {"methods": ["GET"]})
    wait_for(lambda: _tcp_call(c, mag)["got"] == "", 20, interval=0.2, what="HTTP-only ALLOW")
    # by port and principal: magnanimo's mTLS connection passes, the node's plaintext has no
    # identity to allow
    _apply(c, "store-allow", "ALLOW", {"ports": [7000]})
    wait_for(lambda: _tcp_call(c, mag)["got"] == ok, 20, interval=0.2, what="ALLOW by port")
    assert _tcp_call(c, node)["got"] == ""
    assert 'policy="ALLOW default/store-allow (no rule matched)",' \
        f'source="{c.node.address}"' in _metrics(c, "store")
