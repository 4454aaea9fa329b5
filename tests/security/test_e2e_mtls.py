"""End to end with real processes: a control plane with a CA, sidecars that get certificates
over the discovery stream and speak mTLS to each other, PERMISSIVE and STRICT inbound."""

import http.client
import json
import socket
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from meshtool.testing.processes import ControlPlaneProcess, free_port
from meshtool.testing.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
MESHTOOL = [sys.executable, "-m", "meshtool"]


def admin_json(port, path):
    return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5))


def metrics(port):
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/prometheus",
                                  timeout=5).read().decode()


def via_proxy(outbound_port, url, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", outbound_port, timeout=10)
    try:
        conn.request("GET", url, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), dict(resp.getheaders())
    finally:
        conn.close()


def start_sidecar(procs, tmp_path, cp, service, script, version=None, ttl_args=()):
    app, inbound, outbound, admin = (free_port() for _ in range(4))
    cmd = [sys.executable, str(ROOT / f"samples/services/{script}.py"), "--port", str(app)]
    if version:
        cmd += ["--version", version]
    env = None
    if script == "magnanimo":
        import os
        env = {**os.environ, "HTTP_PROXY": f"http://127.0.0.1:{outbound}", "NO_PROXY": ""}
    procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=env))
    log = open(tmp_path / f"sidecar-{service}.log", "wb")
    labels = ["--label", f"version={version}"] if version else []
    procs.append(subprocess.Popen(
        [*MESHTOOL, "proxy", "run", "--control-plane", cp.address, "--service", service,
         *labels, "--proxy-id", f"{service}.default", "--app-port", str(app),
         "--inbound-port", str(inbound), "--outbound-port", str(outbound),
         "--admin-port", str(admin), "-v"], stdout=log, stderr=log))
    return {"app": app, "inbound": inbound, "outbound": outbound, "admin": admin}


@pytest.fixture
def mesh(tmp_path):
    procs = []
    cp = ControlPlaneProcess(tmp_path / "store.db", log=tmp_path / "cp.log",
                             args=("--ca-dir", str(tmp_path / "ca"), "--cert-ttl", "4s")).start()
    try:
        sc = {"benigno": start_sidecar(procs, tmp_path, cp, "benigno", "benigno", "v1"),
              "magnanimo": start_sidecar(procs, tmp_path, cp, "magnanimo", "magnanimo")}
        for s in sc.values():
            wait_for(lambda s=s: _ready(s["admin"]), 30, what="sidecar ready")
        yield cp, sc, tmp_path
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        cp.stop()


def _ready(admin):
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=2).status == 200
    except OSError:
        return False


def test_sidecars_get_certificates_and_speak_mtls(mesh):
    cp, sc, tmp_path = mesh
    certs = admin_json(sc["benigno"]["admin"], "/certs")
    assert certs["state"] == "active"
    assert certs["spiffeId"] == "spiffe://cluster.local/ns/default/sa/benigno"
    assert "PRIVATE KEY" not in json.dumps(certs)
    r = subprocess.run([*MESHTOOL, "proxy-config", "secret", "benigno", "--control-plane",
                        cp.address], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "SPIFFE ID   spiffe://cluster.local/ns/default/sa/benigno" in r.stdout
    renewed = admin_json(sc["benigno"]["admin"], "/certs")["serial"]  # TTL 4 s: it may renew
    assert any(f"serial      {s}" in r.stdout for s in (certs["serial"], renewed)), r.stdout
    assert "PRIVATE" not in r.stdout
    table = cp.sync_table()
    issued = {p["proxyId"]: p["certificate"]["spiffeId"] for p in table["proxies"]}
    assert issued["magnanimo.default"] == "spiffe://cluster.local/ns/default/sa/magnanimo"
    # the endpoint carries the identity the caller verifies
    wait_for(lambda: "magnanimo" in json.dumps(admin_json(sc["magnanimo"]["admin"], "/config_dump")
                                               ["snapshot"]["services"]), 10, "both services")
    status, body, _ = via_proxy(sc["magnanimo"]["outbound"], "http://benigno:5000/")
    assert (status, body.strip()) == (200, "Hello World, Benigno")
    m = metrics(sc["benigno"]["admin"])
    assert ('meshtool_inbound_connections_total{security="mutual_tls",'
            'source="spiffe://cluster.local/ns/default/sa/magnanimo"}') in m
    assert 'connection_security_policy="mutual_tls"' in m

    # PERMISSIVE (the default): a plaintext client on the same port is served and counted
    conn = http.client.HTTPConnection("127.0.0.1", sc["benigno"]["inbound"], timeout=5)
    conn.request("GET", "/", headers={"Host": "benigno:5000"})
    assert conn.getresponse().status == 200
    conn.close()
    assert 'meshtool_inbound_connections_total{security="plaintext",source="127.0.0.1"}' \
        in metrics(sc["benigno"]["admin"])

    # a TLS client without a mesh certificate is refused at the handshake
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection(("127.0.0.1", sc["benigno"]["inbound"]), timeout=5) as raw:
            with ctx.wrap_socket(raw) as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: benigno\r\n\r\n")
                if not tls.recv(100):
                    raise ConnectionError("closed")


def test_certificates_are_renewed_without_failing_requests(mesh):
    cp, sc, tmp_path = mesh
    first = admin_json(sc["benigno"]["admin"], "/certs")["serial"]
    conn = http.client.HTTPConnection("127.0.0.1", sc["magnanimo"]["outbound"], timeout=10)
    failures, served, serials = 0, 0, {first}
    # keep one client connection busy across several renewals (TTL 4 s: renewed every ~2 s)
    def renewed_twice():
        nonlocal failures, served
        conn.request("GET", "http://benigno:5000/")
        resp = conn.getresponse()
        resp.read()
        served += 1
        failures += resp.status != 200
        serials.add(admin_json(sc["benigno"]["admin"], "/certs")["serial"])
        serials.add(admin_json(sc["magnanimo"]["admin"], "/certs")["serial"])
        return len(serials) >= 5
    wait_for(renewed_twice, 20, what="several renewals")
    conn.close()
    assert failures == 0 and served > 10
    logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert "PRIVATE KEY" not in logs and "BEGIN CERTIFICATE REQUEST" not in logs


STRICT = """\
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: benigno-strict
  namespace: default
spec:
  selector:
    matchLabels:
      app: benigno
  mtls:
    mode: STRICT
"""

DENY_MAGNANIMO = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-magnanimo
  namespace: default
spec:
  selector:
    matchLabels:
      app: benigno
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/default/sa/magnanimo"]
"""

ALLOW_MAGNANIMO = """\
apiVersion: kuma.io/v1alpha1
kind: MeshTrafficPermission
metadata:
  name: benigno-callers
  namespace: default
spec:
  targetRef:
    kind: MeshService
    name: benigno
  from:
  - targetRef: {kind: MeshService, name: magnanimo}
    default: {action: AllowWithShadowDeny}
"""


def apply(tmp_path, name, text):
    f = tmp_path / f"{name}.yaml"
    f.write_text(text)
    r = subprocess.run([*MESHTOOL, "apply", "-f", str(f), "--store", str(tmp_path / "store.db")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def delete(tmp_path, name):
    r = subprocess.run([*MESHTOOL, "delete", "-f", str(tmp_path / f"{name}.yaml"), "--store",
                        str(tmp_path / "store.db")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def synced(cp):
    t = cp.sync_table()
    return t["proxies"] and all(p["status"] == "SYNCED" for p in t["proxies"]) and t


def plaintext_status(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": "benigno:5000"})
        return conn.getresponse().status
    except (ConnectionError, http.client.RemoteDisconnected):
        return None
    finally:
        conn.close()


def test_strict_refuses_plaintext_and_permissions_deny_then_allow(mesh):
    cp, sc, tmp_path = mesh
    b, m = sc["benigno"], sc["magnanimo"]
    assert plaintext_status(b["inbound"]) == 200  # PERMISSIVE by default
    apply(tmp_path, "strict", STRICT)
    wait_for(lambda: cp.sync_table()["storeRevision"] >= 1 and synced(cp), 15, what="synced")
    assert plaintext_status(b["inbound"]) is None  # closed before a byte reaches the app
    assert 'meshtool_inbound_connections_total{security="refused",source="127.0.0.1"} 1' \
        in metrics(b["admin"])
    status, body, _ = via_proxy(m["outbound"], "http://benigno:5000/")
    assert (status, body.strip()) == (200, "Hello World, Benigno")  # mTLS still served

    # which links are plaintext: proxy-status's MTLS column, proxy-config's inbound sources
    r = subprocess.run([*MESHTOOL, "proxy-status", "--control-plane", cp.address],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    mtls = {line.split()[0]: line.split()[9] for line in r.stdout.splitlines()[1:]}
    assert mtls["benigno.default"].startswith("STRICT("), r.stdout
    assert mtls["magnanimo.default"].startswith("PERMISSIVE("), r.stdout
    assert cp.sync_table()["proxies"][0]["mtls"]["policy"] == "default/benigno-strict"
    r = subprocess.run([*MESHTOOL, "proxy-config", "secret", "benigno", "--control-plane",
                        cp.address], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "inbound     STRICT (set by default/benigno-strict)" in r.stdout, r.stdout
    lines = r.stdout.split("inbound     ", 1)[1].splitlines()[1:]
    assert [ln.split()[0] for ln in lines] == ["plaintext", "refused", "mutual_tls"], r.stdout
    assert lines[1].split() == ["refused", "1", "from", "127.0.0.1"]
    assert lines[2].split()[-1] == "spiffe://cluster.local/ns/default/sa/magnanimo"

    apply(tmp_path, "deny", DENY_MAGNANIMO)
    wait_for(lambda: via_proxy(m["outbound"], "http://benigno:5000/")[0] == 403, 15,
             what="denied")
    status, body, headers = via_proxy(m["outbound"], "http://benigno:5000/")
    assert body == "RBAC: access denied"
    assert headers["x-meshtool-denied-by"] == "DENY default/deny-magnanimo"
    assert 'meshtool_permission_denied_total{' in metrics(b["admin"])

    before = cp.sync_table()["storeRevision"]
    delete(tmp_path, "deny")
    apply(tmp_path, "allow", ALLOW_MAGNANIMO)
    # both writes pushed and ACKed: the deny's removal alone would also answer 200, unaudited
    wait_for(lambda: cp.sync_table()["storeRevision"] >= before + 2 and synced(cp), 15,
             what="allow synced")
    assert via_proxy(m["outbound"], "http://benigno:5000/")[0] == 200
    audited = [line for line in metrics(b["admin"]).splitlines()
               if line.startswith("meshtool_permission_audited_total{")]
    assert audited and 'policy="default/benigno-callers-audit"' in audited[0]
    assert 'source="spiffe://cluster.local/ns/default/sa/magnanimo"' in audited[0]


def test_root_rotation_under_load_fails_no_request(mesh):
    """A new root is first added as a trust anchor, then signs, then the old one goes; the
    control plane rereads its CA files, sidecars pick the change up at renewal (TTL 4 s)."""
    import threading

    from meshtool.security.ca import create_root

    cp, sc, tmp_path = mesh
    ca, new = tmp_path / "ca", tmp_path / "new-root"
    create_root(new)
    old_root, new_root = (d.joinpath("root-cert.pem").read_text() for d in (ca, new))
    stop, outcomes = threading.Event(), []

    def load():
        keep = http.client.HTTPConnection("127.0.0.1", sc["magnanimo"]["outbound"], timeout=10)
        while not stop.is_set():
            for fresh in (False, True):  # a kept-alive connection and a new one
                try:
                    if fresh:
                        outcomes.append(via_proxy(sc["magnanimo"]["outbound"],
                                                  "http://benigno:5000/")[0])
                    else:
                        keep.request("GET", "http://benigno:5000/")
                        resp = keep.getresponse()
                        resp.read()
                        outcomes.append(resp.status)
                except OSError as exc:
                    outcomes.append(repr(exc))
                    keep.close()
        keep.close()

    def certs():
        return [admin_json(s["admin"], "/certs") for s in sc.values()]

    def write(name, text):
        tmp = ca / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(ca / name)  # atomic: the control plane never reads half a file

    worker = threading.Thread(target=load)
    worker.start()
    try:
        # 1. the new root becomes a trust anchor everywhere
        write("root-cert.pem", old_root + new_root)
        wait_for(lambda: all(len(c["roots"]) == 2 for c in certs()), 30, what="both roots")
        # 2. it signs: every workload renews with a leaf it issued
        new_subject = certs()[0]["roots"][1]["subject"]
        key = (new / "ca-key.pem").read_bytes()
        (ca / "ca-key.pem").unlink()
        (ca / "ca-key.pem").write_bytes(key)
        write("cert-chain.pem", new_root)
        write("ca-cert.pem", new_root)
        wait_for(lambda: all(c["chain"][0]["issuer"] == new_subject for c in certs()), 30,
                 what="leaves issued by the new root")
        # 3. the old root goes
        write("root-cert.pem", new_root)
        wait_for(lambda: all(len(c["roots"]) == 1 and c["roots"][0]["subject"] == new_subject
                             for c in certs()), 30, what="the old root gone")
        served = len(outcomes)
        wait_for(lambda: len(outcomes) > served + 10, 20, what="requests after the rotation")
    finally:
        stop.set()
        worker.join(30)
    failed = [o for o in outcomes if o != 200]
    assert not failed and len(outcomes) > 50, (failed[:5], len(outcomes))


INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: route1
  namespace: default
  annotations: {konghq.com/strip-path: "true"}
spec:
  rules:
  - http:
      paths:
      - path: /route1
        pathType: Prefix
        backend: {service: {name: benigno, port: {number: 5000}}}
"""


def test_the_gateway_gets_a_certificate_and_speaks_mtls_to_sidecars_under_strict(mesh):
    cp, sc, tmp_path = mesh
    b = sc["benigno"]
    http_port, admin = free_port(), free_port()
    log = open(tmp_path / "gateway.log", "wb")
    gateway = subprocess.Popen(
        [*MESHTOOL, "gateway", "run", "--control-plane", cp.address, "--http-port",
         str(http_port), "--admin-port", str(admin), "--proxy-id", "gw.default"],
        stdout=log, stderr=log)
    try:
        apply(tmp_path, "strict", STRICT)
        apply(tmp_path, "ingress", INGRESS)
        wait_for(lambda: plaintext_status(b["inbound"]) is None, 10, what="STRICT in force")
        certs = wait_for(lambda: admin_json(admin, "/certs").get("state") == "active"
                         and admin_json(admin, "/certs"), 20, what="the gateway's certificate")
        assert certs["spiffeId"] == "spiffe://cluster.local/ns/default/sa/meshtool-gateway"

        def through_gateway():
            conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
            try:
                conn.request("GET", "/route1/")
                resp = conn.getresponse()
                return resp.status, resp.read().decode().strip()
            except OSError:
                return None
            finally:
                conn.close()
        assert wait_for(lambda: through_gateway() == (200, "Hello World, Benigno"), 20,
                        what="served through the gateway")
        # benigno saw the gateway's identity over mTLS: STRICT refuses anything else
        assert ('meshtool_inbound_connections_total{security="mutual_tls",'
                'source="spiffe://cluster.local/ns/default/sa/meshtool-gateway"}') in metrics(
                    b["admin"])
    finally:
        gateway.terminate()
        gateway.wait(10)
