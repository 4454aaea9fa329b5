"""The gateway's certificates named by a Gateway API Gateway (listener certificateRefs) and an
Istio Gateway (server credentialName), against the real API server, served by a real
`meshtool gateway run` by SNI, each for its own host.

The CRDs are the Gateway API's own (pinned release, scripts/gateway-api-crds.sh) and minimal
Istio stand-ins with an open spec; this module creates those the cluster lacks and deletes them
again, so that tests listing the cluster's API groups see what they expect.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from meshtool.testing.certs import self_signed
from meshtool.testing.processes import ControlPlaneProcess, free_port

from .test_gateway_kube import serve_benigno_v1
from .test_gateway_tls_kube import _try, der, tls_secret
from .test_kube_mode import MESHTOOL, procs, wait  # noqa: F401 - procs: fixture

ROOT = Path(__file__).resolve().parents[3]


def istio_crd(kind: str, plural: str) -> dict:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.networking.istio.io"},
            "spec": {"group": "networking.istio.io", "scope": "Namespaced",
                     "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural,
                               "singular": kind.lower()},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                         "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                             "type": "object",
                             "x-kubernetes-preserve-unknown-fields": True}}}}}]}}


@pytest.fixture(scope="module")
def gateway_crds(kube_cluster):
    crd_dir = Path(subprocess.run([str(ROOT / "scripts" / "gateway-api-crds.sh")], check=True,
                                  capture_output=True, text=True, timeout=600).stdout.strip())
    manifests = [yaml.safe_load((crd_dir / f"gateway.networking.k8s.io_{p}.yaml").read_text())
                 for p in ("gateways", "httproutes")]
    manifests += [istio_crd("Gateway", "gateways"), istio_crd("VirtualService", "virtualservices")]
    api = client.ApiextensionsV1Api(kube_cluster.api_client)
    created = []
    for manifest in manifests:
        try:
            api.create_custom_resource_definition(manifest)
            created.append(manifest["metadata"]["name"])
        except ApiException as e:
            if e.status != 409:
                raise

    def established(name):
        conditions = api.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)
    wait(lambda: all(established(m["metadata"]["name"]) for m in manifests), timeout=60,
         what="CRDs Established")
    yield
    for name in created:
        api.delete_custom_resource_definition(name)

    wait(lambda: all(_absent(api, n) for n in created), timeout=60, what="CRDs deleted")


def _absent(api, name: str) -> bool:
    try:
        api.read_custom_resource_definition(name)
        return False
    except ApiException as e:
        return e.status == 404


def test_gateway_api_and_istio_gateways_name_secrets_the_gateway_serves(
        kube_cluster, kube_namespace, meshtool_crds, gateway_crds, procs, tmp_path):
    core = client.CoreV1Api(kube_cluster.api_client)
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    ns = kube_namespace
    serve_benigno_v1(procs, core, ns)
    pems = {}
    for host, secret in (("api.example.com", "api-tls"), ("www.example.com", "www-tls")):
        cert, key = (p.read_bytes() for p in self_signed(tmp_path, host))
        pems[host] = cert
        core.create_namespaced_secret(ns, tls_secret(secret, cert, key))
    gw = ("gateway.networking.k8s.io", "v1")
    custom.create_namespaced_custom_object(*gw, ns, "gateways", {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "edge"},
        "spec": {"gatewayClassName": "meshtool", "listeners": [
            {"name": "api", "port": 443, "protocol": "HTTPS", "hostname": "api.example.com",
             "tls": {"certificateRefs": [{"kind": "Secret", "name": "api-tls"}]}}]}})
    custom.create_namespaced_custom_object(*gw, ns, "httproutes", {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "api"},
        "spec": {"parentRefs": [{"name": "edge"}],
                 "rules": [{"backendRefs": [{"name": "benigno", "port": 5000}]}]}})
    istio = ("networking.istio.io", "v1")
    custom.create_namespaced_custom_object(*istio, ns, "gateways", {
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "www"},
        "spec": {"servers": [{"port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                              "hosts": ["www.example.com"],
                              "tls": {"mode": "SIMPLE", "credentialName": "www-tls"}}]}})
    custom.create_namespaced_custom_object(*istio, ns, "virtualservices", {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "www"},
        "spec": {"hosts": ["www.example.com"], "gateways": ["www"],
                 "http": [{"route": [{"destination": {"host": "benigno",
                                                      "port": {"number": 5000}}}]}]}})

    from .kubeobjects import token_for

    token_file = tmp_path / "token"
    token_file.write_text(token_for(core, ns, "meshtool-gateway"))
    cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
    cp.args = ("--kubeconfig", str(kube_cluster.kubeconfig), "-n", ns,
               "--gateway-service-account", f"{ns}/meshtool-gateway")
    http_port, https_port, admin = free_port(), free_port(), free_port()
    with cp.start(timeout=30):
        procs.append(subprocess.Popen(
            [*MESHTOOL, "gateway", "run", "--control-plane", cp.address, "--http-port",
             str(http_port), "--https-port", str(https_port), "--admin-port", str(admin),
             "--proxy-id", f"gw.{ns}", "--token-file", str(token_file)],
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "gateway.log", "wb")))
        for host, cert in pems.items():  # each SNI gets its own Secret's certificate
            served, answer = wait(lambda: _try(https_port, host, cert), timeout=30,
                                  what=f"HTTPS for {host}")
            assert served == der(cert)
            assert answer == "HTTP/1.1 200 OK|Hello World, Benigno\n"
        # the other name's certificate does not verify this host: the SNI chose
        assert _try(https_port, "api.example.com", pems["www.example.com"]) is None
        assert procs[-1].poll() is None, "the gateway died"
