"""Transparent mode for real: a "pod" network namespace whose app calls http://benigno:5000/hw2
with no proxy settings; `meshtool proxy init` iptables rules capture the traffic in both
directions and the sidecar (running as UID 1337, like in Kubernetes) routes it 90/10.

Needs root, iproute2 and iptables (scripts/system-deps.sh); skipped with the reason otherwise.
Only addresses of our own veth pair and loopback are used.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from sidecar_mesh import ROOT, SAMPLES, canary_doc, stop_all
from tests.security.pods import skip_reason

pytestmark = pytest.mark.timeout(120)

V1, V2 = b"Hello World, Benigno\n", b"Hello World, Benigno, Canary Release\n"


def _sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


def _skip_reason() -> str | None:
    return skip_reason("transparent mode needs", ("ip", "iptables", "setpriv", "curl"))


class Pod:
    """A network namespace joined to the host by a veth pair: host .1, pod .2, benigno VIP .100."""

    def __init__(self) -> None:
        n = os.getpid() % 200 + 20
        tag = os.getpid() % 100000
        self.ns, self.host_if, self.pod_if = f"mtpod{tag}", f"mth{tag}", f"mtp{tag}"
        self.host_ip, self.pod_ip, self.vip = f"10.251.{n}.1", f"10.251.{n}.2", f"10.251.{n}.100"
        self.etc = Path("/etc/netns") / self.ns
        self.procs: list[subprocess.Popen] = []
        self.dir = Path(tempfile.mkdtemp(prefix="meshtool-pod-"))
        self.dir.chmod(0o755)  # the sidecar runs as UID 1337 and reads its snapshot here

    def setup(self) -> None:
        _sh("ip", "netns", "add", self.ns)
        _sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.pod_if)
        _sh("ip", "link", "set", self.pod_if, "netns", self.ns)
        _sh("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.host_if)
        _sh("ip", "link", "set", self.host_if, "up")
        ex = ("ip", "netns", "exec", self.ns)
        _sh(*ex, "ip", "addr", "add", f"{self.pod_ip}/24", "dev", self.pod_if)
        _sh(*ex, "ip", "link", "set", self.pod_if, "up")
        _sh(*ex, "ip", "link", "set", "lo", "up")
        _sh(*ex, "ip", "route", "add", "default", "via", self.host_ip)
        self.etc.mkdir(parents=True, exist_ok=True)
        (self.etc / "hosts").write_text(f"127.0.0.1 localhost\n{self.vip} benigno\n")

    def exec(self, *argv: str, log: str | None = None, uid: int | None = None) -> subprocess.Popen:
        prefix = ["ip", "netns", "exec", self.ns]
        if uid is not None:
            prefix += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        out = open(self.dir / log, "wb") if log else subprocess.DEVNULL
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env["HOME"] = str(self.dir)
        p = subprocess.Popen([*prefix, *argv], stdout=out, stderr=subprocess.STDOUT, env=env,
                             cwd=ROOT)
        self.procs.append(p)
        return p

    def curl(self, url: str) -> str:
        return _sh("ip", "netns", "exec", self.ns, "curl", "-s", "-m", "5", url, check=False).stdout

    def teardown(self) -> None:
        stop_all(self.procs)
        _sh("ip", "link", "del", self.host_if, check=False)
        _sh("ip", "netns", "del", self.ns, check=False)
        shutil.rmtree(self.etc, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pod():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    p = Pod()
    try:
        p.setup()
        host_procs = []
        for port, version in ((5001, "v1"), (5002, "v2")):
            host_procs.append(subprocess.Popen([sys.executable, str(SAMPLES / "benigno.py"),
                                                "--host", p.host_ip, "--port", str(port),
                                                "--version", version]))
        doc = canary_doc(90, 10, version="pod-1")
        doc["services"][0]["addresses"] = [p.vip]
        for ep in doc["services"][0]["endpoints"]:
            ep["address"] = p.host_ip
        snapshot = p.dir / "snapshot.json"
        snapshot.write_text(json.dumps(doc))
        snapshot.chmod(0o644)
        init = _sh("ip", "netns", "exec", p.ns, sys.executable, "-m", "meshtool", "proxy", "init",
                   "--proxy-uid", "1337", check=False)
        assert init.returncode == 0, init.stderr
        p.exec(sys.executable, "-m", "meshtool", "proxy", "run", "--mode", "transparent",
               "--snapshot", str(snapshot), "--service", "magnanimo", "--label", "version=v1",
               "--app-port", "4000", log="sidecar.log", uid=1337)
        p.exec(sys.executable, str(SAMPLES / "magnanimo.py"), "--host", "0.0.0.0", "--port",
               "4000", "--benigno", "http://benigno:5000/hw2", log="magnanimo.log")
        deadline = time.monotonic() + 30
        while not p.curl("http://127.0.0.1:15020/ready").startswith("ready"):
            if time.monotonic() > deadline:
                pytest.fail("sidecar in the pod never became ready: "
                            + (p.dir / "sidecar.log").read_text(errors="replace"))
            time.sleep(0.1)
        yield p
        for hp in host_procs:
            hp.terminate()
    finally:
        p.teardown()


def test_iptables_capture_outbound_calls_with_no_proxy_settings(pod):
    bodies = Counter(pod.curl("http://benigno:5000/hw2") for _ in range(10))
    assert bodies == {V1.decode(): 9, V2.decode(): 1}


def test_inbound_capture_reaches_the_app_which_calls_out_through_the_sidecar(pod):
    wait_port_pod = time.monotonic() + 10
    counts = Counter()
    for _ in range(20):
        while True:
            try:
                with urllib.request.urlopen(f"http://{pod.pod_ip}:4000/hw2", timeout=5) as r:
                    counts[r.read()] += 1
                break
            except OSError:
                if time.monotonic() > wait_port_pod:
                    raise
                time.sleep(0.1)
    assert counts == {V1: 18, V2: 2}
    metrics = pod.curl("http://127.0.0.1:15020/stats/prometheus")
    assert 'direction="inbound"' in metrics
    assert 'direction="outbound",source_service="magnanimo",' in metrics


def test_sidecar_config_dump_in_the_pod(pod):
    dump = json.loads(pod.curl("http://127.0.0.1:15020/config_dump"))
    assert dump["version"] == "pod-1" and dump["proxy"]["service"] == "magnanimo"


def test_from_outside_the_pod_only_the_health_port_answers(pod):
    with urllib.request.urlopen(f"http://{pod.pod_ip}:15021/ready", timeout=5) as r:
        assert r.status == 200
    try:
        urllib.request.urlopen(f"http://{pod.pod_ip}:15021/config_dump", timeout=5)
        raise AssertionError("config_dump answered on the health port")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    with pytest.raises(urllib.error.URLError):  # the admin port is not on the pod address
        urllib.request.urlopen(f"http://{pod.pod_ip}:15020/config_dump", timeout=5)


# -- egress default-deny for every protocol ---------------------------------------------------

EGRESS_CLIENT = r'''
import json, socket, ssl, sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {}
try:
    s = socket.create_connection((host, port), timeout=3)
    s.settimeout(3)
    if kind == "tcp":  # a server-first protocol, then a half-close
        out["banner"] = s.recv(100).decode()
        s.sendall(b"ping")
        s.shutdown(socket.SHUT_WR)
        out["reply"] = s.recv(100).decode()
    else:
        t = ssl.create_default_context(cafile=sys.argv[4]).wrap_socket(
            s, server_hostname="secret.example.org")
        t.sendall(b"hi")
        out["reply"] = t.recv(100).decode()
except Exception as exc:
    out["error"] = type(exc).__name__
print(json.dumps(out))
'''


def _tls_files(directory: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secret.example.org")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("secret.example.org")]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "secret.pem", directory / "secret.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_file.chmod(0o644)
    return cert_file, key_file


@pytest.fixture(scope="module")
def external(pod):
    """Outside the pod, on the host side: a server-first TCP service and a TLS service."""
    import socket
    import ssl
    import threading

    cert, key = _tls_files(pod.dir)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    servers = []

    def serve(port: int, handle) -> None:
        srv = socket.create_server((pod.host_ip, port))
        servers.append(srv)

        def loop():
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                threading.Thread(target=handle, args=(conn,), daemon=True).start()
        threading.Thread(target=loop, daemon=True).start()

    def banner(conn):
        with conn:
            conn.sendall(b"220 hello\r\n")
            got = b""
            while chunk := conn.recv(100):  # until the client half-closes
                got += chunk
            conn.sendall(b"got " + got)

    def secret(conn):
        try:
            with tls.wrap_socket(conn, server_side=True) as t:
                t.recv(100)
                t.sendall(b"secret")
        except (OSError, ssl.SSLError):
            pass

    serve(7000, banner)
    serve(7443, secret)
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Plain(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("content-length", "9")
            self.end_headers()
            self.wfile.write(b"external\n")

        def log_message(self, *args):
            pass

    web = ThreadingHTTPServer((pod.host_ip, 7080), Plain)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    yield cert
    web.shutdown()
    for srv in servers:
        srv.close()


def _from_pod(pod, kind: str, port: int, cafile: Path) -> dict:
    script = pod.dir / "egress_client.py"
    script.write_text(EGRESS_CLIENT)
    r = _sh("ip", "netns", "exec", pod.ns, sys.executable, str(script), kind, pod.host_ip,
            str(port), str(cafile), check=False)
    return json.loads(r.stdout or "{}")


def _apply(pod, doc: dict) -> None:
    tmp = pod.dir / "snapshot.tmp"
    tmp.write_text(json.dumps(doc))
    tmp.chmod(0o644)
    tmp.replace(pod.dir / "snapshot.json")
    deadline = time.monotonic() + 10
    while json.loads(pod.curl("http://127.0.0.1:15020/config_dump") or "{}").get(
            "version") != doc["version"]:
        assert time.monotonic() < deadline, "the sidecar did not take the snapshot"
        time.sleep(0.05)


def test_egress_is_denied_for_tcp_tls_and_http_then_allowed_by_egress_rules(pod, external):
    doc = canary_doc(90, 10, version="deny-all")
    doc["services"][0]["addresses"] = [pod.vip]
    for ep in doc["services"][0]["endpoints"]:
        ep["address"] = pod.host_ip
    _apply(pod, doc)
    tcp = _from_pod(pod, "tcp", 7000, external)
    assert not tcp.get("banner") and not tcp.get("reply")  # closed before a byte passed
    assert "reply" not in _from_pod(pod, "tls", 7443, external)
    assert pod.curl(f"http://{pod.host_ip}:7080/").startswith("egress to")  # 403's body
    metrics = pod.curl("http://127.0.0.1:15020/stats/prometheus")
    assert f'meshtool_egress_denied_total{{host="{pod.host_ip}:7000"}}' in metrics
    assert 'meshtool_egress_denied_total{host="secret.example.org:7443"}' in metrics
    log = (pod.dir / "sidecar.log").read_text(errors="replace")
    assert f"TCP connection to {pod.host_ip}:7000" in log and "protocol: tcp" in log

    doc["version"] = "allow-some"
    doc["rules"] = [*doc["rules"], *(
        {"apiVersion": "config.meshtool.io/v1alpha1", "kind": "EgressRule",
         "metadata": {"name": name, "namespace": "default"},
         "spec": {"destination": {"service": service}, "ports": ports}}
        for name, service, ports in (
            ("raw", f"{pod.host_ip}/32", [{"port": 7000, "protocol": "tcp"},
                                           {"port": 7080, "protocol": "http"}]),
            ("secret", "secret.example.org", [{"port": 7443, "protocol": "https"}])))]
    _apply(pod, doc)
    t0 = time.monotonic()
    tcp = _from_pod(pod, "tcp", 7000, external)
    assert tcp == {"banner": "220 hello\r\n", "reply": "got ping"}, tcp
    assert time.monotonic() - t0 < 2.5  # the greeting did not wait for the client
    # verified against the server's own certificate: the sidecar did not intercept
    assert _from_pod(pod, "tls", 7443, external) == {"reply": "secret"}
    assert pod.curl(f"http://{pod.host_ip}:7080/") == "external\n"
