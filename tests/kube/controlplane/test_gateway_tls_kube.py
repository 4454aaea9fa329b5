"""The gateway's certificates from Secrets, against the real API server: an Ingress's
`spec.tls[].secretName` is read by `meshtool control-plane --store kubernetes`, pushed to a
real `meshtool gateway run` whose service account token the API server reviews (and to no
sidecar, nor to a proxy that only says it is a gateway), served by SNI over HTTPS; replacing the
Secret's certificate is served without a restart; a Secret that is missing or of another type
gets a Warning Event on the Ingress and the certificates that are fine keep being served;
the missing Secret, once created, is served at once.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import urllib.request

from cryptography import x509
from kubernetes import client

from meshtool.discovery.protocol import CONFIG_DUMP_PATH, http_url
from meshtool.testing.certs import self_signed
from meshtool.testing.processes import ControlPlaneProcess, free_port

from .test_gateway_kube import serve_benigno_v1
from .test_kube_mode import MESHTOOL, procs, wait  # noqa: F401 - procs: fixture

HOST = "shop.example.com"


def tls_secret(name: str, cert_pem: bytes, key_pem: bytes, kind: str = "kubernetes.io/tls"):
    data = {"tls.crt": base64.b64encode(cert_pem).decode(),
            "tls.key": base64.b64encode(key_pem).decode()}
    return client.V1Secret(metadata=client.V1ObjectMeta(name=name), type=kind, data=data)


def ingress(name: str, host: str, secret: str) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name},
            "spec": {"tls": [{"hosts": [host], "secretName": secret}],
                     "rules": [{"host": host, "http": {"paths": [{
                         "path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": "benigno",
                                                 "port": {"number": 5000}}}}]}}]}}


def https_get(port: int, host: str, ca_pem: bytes) -> tuple[bytes, str]:
    """(the certificate served for SNI `host`, DER; the response's status line and body),
    verified against `ca_pem`."""
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            served = tls.getpeercert(binary_form=True)
            tls.sendall(f"GET /x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            chunks = []
            while data := tls.recv(65536):
                chunks.append(data)
    text = b"".join(chunks).decode()
    return served, text.split("\r\n", 1)[0] + "|" + text.split("\r\n\r\n", 1)[1]


def der(cert_pem: bytes) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(cert_pem).public_bytes(Encoding.DER)


def test_ingress_tls_secrets_are_served_by_a_real_gateway(kube_cluster, kube_namespace,
                                                          meshtool_crds, procs, tmp_path):
    core = client.CoreV1Api(kube_cluster.api_client)
    net = client.NetworkingV1Api(kube_cluster.api_client)
    ns = kube_namespace
    serve_benigno_v1(procs, core, ns)
    cert, key = (p.read_bytes() for p in self_signed(tmp_path, HOST))
    core.create_namespaced_secret(ns, tls_secret("shop-tls", cert, key))
    net.create_namespaced_ingress(ns, ingress("shop", HOST, "shop-tls"))

    from .kubeobjects import token_for

    token_file = tmp_path / "token"
    token_file.write_text(token_for(core, ns, "meshtool-gateway"))
    cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
    cp.args = ("--kubeconfig", str(kube_cluster.kubeconfig), "-n", ns,
               "--gateway-service-account", f"{ns}/meshtool-gateway")
    http_port, https_port, admin = free_port(), free_port(), free_port()
    impostor_https = free_port()
    with cp.start(timeout=30):
        log = open(tmp_path / "gateway.log", "wb")
        procs.append(subprocess.Popen(
            [*MESHTOOL, "gateway", "run", "--control-plane", cp.address, "--http-port",
             str(http_port), "--https-port", str(https_port), "--admin-port", str(admin),
             "--proxy-id", f"gw.{ns}", "--token-file", str(token_file)], stdout=log, stderr=log))
        # a proxy that says it is a gateway, with another account's token: no certificates
        other_token = tmp_path / "other-token"
        other_token.write_text(token_for(core, ns, "sleep"))
        procs.append(subprocess.Popen(
            [*MESHTOOL, "gateway", "run", "--control-plane", cp.address, "--http-port",
             str(free_port()), "--https-port", str(impostor_https), "--admin-port",
             str(free_port()), "--proxy-id", f"impostor.{ns}", "--token-file",
             str(other_token)],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "impostor.log", "wb")))
        # a sidecar on the same stream: it must never receive a private key
        procs.append(subprocess.Popen(
            [*MESHTOOL, "proxy", "run", "--control-plane", cp.address, "--service", "sleep",
             "--inbound-port", str(free_port()), "--outbound-port", str(free_port()),
             "--admin-port", str(free_port()), "--proxy-id", f"sleep.{ns}"],
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "sidecar.log", "wb")))
        cp.wait_for(lambda t: sorted(p["status"] for p in t["proxies"]) == ["SYNCED"] * 3, 30)

        # HTTPS with SNI: the Secret's certificate, and the routed answer
        served, answer = wait(lambda: _try(https_port, HOST, cert), what="HTTPS served")
        assert served == der(cert)
        assert answer == "HTTP/1.1 200 OK|Hello World, Benigno\n"

        # proxy-status / config_dump: the gateway's certificates (never a key); none for sidecars
        table = cp.sync_table()
        rows = {p["proxyId"]: p for p in table["proxies"]}
        assert rows[f"gw.{ns}"]["tls"]["certificates"] == 1
        assert "tls" not in rows[f"sleep.{ns}"]
        refused = {"refused": f"no certificates: its token is service account {ns}/sleep's, the "
                              f"gateway's is {ns}/meshtool-gateway"}
        cp.wait_for(lambda t: [p.get("tls") for p in t["proxies"]
                               if p["proxyId"] == f"impostor.{ns}"] == [refused], 10)
        assert _try(impostor_https, HOST, cert) is None  # it has nothing to serve
        dump = _cp_dump(cp.address, f"gw.{ns}")
        assert [c["secret"] for c in dump["tls"]["certificates"]] == [f"{ns}/shop-tls"]
        assert dump["tls"]["certificates"][0]["hosts"] == [HOST]
        assert "tls" not in _cp_dump(cp.address, f"sleep.{ns}")
        assert "PRIVATE KEY" not in json.dumps(dump)

        # Rotation: a new certificate in the same Secret is served after the push, no restart
        rotated = tmp_path / "rotated"
        rotated.mkdir()
        cert2, key2 = (p.read_bytes() for p in self_signed(rotated, HOST))
        core.replace_namespaced_secret("shop-tls", ns, tls_secret("shop-tls", cert2, key2))
        served, answer = wait(lambda: _try(https_port, HOST, cert2), what="the rotated cert")
        assert served == der(cert2) and answer.endswith("Hello World, Benigno\n")

        # A missing Secret and one of another type: a Warning Event each, no crash, and the
        # good certificate keeps being served
        opaque_cert, opaque_key = (p.read_bytes() for p in self_signed(tmp_path, "opaque.test"))
        core.create_namespaced_secret(ns, tls_secret("opaque", opaque_cert, opaque_key, "Opaque"))
        net.create_namespaced_ingress(ns, ingress("nosecret", "missing.test", "nowhere"))
        net.create_namespaced_ingress(ns, ingress("wrongtype", "opaque.test", "opaque"))

        def warnings(name):
            events = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}")
            return [e.message for e in events.items
                    if e.type == "Warning" and e.reason == "CertificateNotServed"]
        assert wait(lambda: warnings("nosecret"), what="the missing Secret's Event") == [
            f"TLS certificate not served by the meshtool gateway: Secret 'nowhere' (namespace "
            f"'{ns}') not found"]
        assert wait(lambda: warnings("wrongtype"), what="the wrong type's Event") == [
            f"TLS certificate not served by the meshtool gateway: Secret 'opaque' (namespace "
            f"'{ns}') is of type 'Opaque', not kubernetes.io/tls"]
        assert _try(https_port, HOST, cert2)[0] == der(cert2)
        problems = _cp_dump(cp.address, f"gw.{ns}")["tls"]["problems"]
        assert sorted(p["secret"] for p in problems) == [f"{ns}/nowhere", f"{ns}/opaque"]
        # the missing Secret created: served for its host at once, no restart
        new_cert, new_key = (p.read_bytes() for p in self_signed(tmp_path, "missing.test"))
        core.create_namespaced_secret(ns, tls_secret("nowhere", new_cert, new_key))
        served, _ = wait(lambda: _try(https_port, "missing.test", new_cert),
                         what="the new Secret served")
        assert served == der(new_cert)
        assert all(p.poll() is None for p in procs[-3:]), "a proxy died"
        gw_dump = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{admin}/config_dump", timeout=10).read())
        assert sorted(c["secret"] for c in gw_dump["tls"]["pushed"]) == [
            f"{ns}/nowhere", f"{ns}/shop-tls"]


def _try(port: int, host: str, ca_pem: bytes):
    """The (certificate, answer) when the handshake verifies against `ca_pem`, else None."""
    try:
        served, answer = https_get(port, host, ca_pem)
    except (OSError, ssl.SSLError):
        return None
    return (served, answer) if answer.startswith("HTTP/1.1 200") else None


def _cp_dump(address: str, proxy: str) -> dict:
    url = http_url(address, CONFIG_DUMP_PATH) + f"?proxy={proxy}"
    return json.loads(urllib.request.urlopen(url, timeout=10).read())


def test_a_gateway_gets_its_mesh_certificate_with_its_service_account_token(
        kube_cluster, kube_namespace, meshtool_crds, procs, tmp_path):
    """mTLS to the sidecars in Kubernetes mode: the gateway's CSR carries its token (as a
    sidecar's does), reviewed by the real API server; the certificate names its account."""
    import os

    from .kubeobjects import token_for

    core = client.CoreV1Api(kube_cluster.api_client)
    ns = kube_namespace
    token_file = tmp_path / "token"
    token_file.write_text(token_for(core, ns, "meshtool-gateway"))
    cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
    cp.args = ("--kubeconfig", str(kube_cluster.kubeconfig), "-n", ns, "--ca-dir",
               str(tmp_path / "ca"))
    admin = free_port()
    with cp.start(timeout=30):
        procs.append(subprocess.Popen(
            [*MESHTOOL, "gateway", "run", "--control-plane", cp.address, "--http-port",
             str(free_port()), "--admin-port", str(admin), "--proxy-id", f"gw.{ns}",
             "--token-file", str(token_file)], env={**os.environ, "POD_NAMESPACE": ns},
            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "gateway.log", "wb")))

        def certs():
            doc = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{admin}/certs",
                                                    timeout=5).read())
            return doc if doc.get("state") == "active" else None
        issued = wait(certs, timeout=30, what="the gateway's certificate")
        assert issued["spiffeId"] == f"spiffe://cluster.local/ns/{ns}/sa/meshtool-gateway"
