"""Kubernetes mode, against the real API server: the native security kinds are custom resources
like the other native kinds. An MTLSPolicy written with `meshtool create --store kubernetes` and an
AccessPolicy created raw through the API server (as kubectl would) reach the control plane's
watch, are pushed, and are enforced between two real sidecars that got their certificates with
their pods' service account tokens (TokenReview)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from meshtool.testing.processes import ControlPlaneProcess, free_port
from meshtool.testing.wait import wait_for

from .kubeobjects import create_service, set_pod_status, write_token
from .test_kube_mode import procs  # noqa: F401 - procs is a fixture

ROOT = Path(__file__).resolve().parents[3]
MESHTOOL = [sys.executable, "-m", "meshtool"]
GROUP, VERSION = "config.meshtool.io", "v1alpha1"
POD_IP = f"127.0.13.{2 + os.getpid() % 250}"  # benigno's pod: its sidecar listens there


def _sidecar(procs, tmp_path, cp, ns, service, token, host="127.0.0.1", inbound=None,
             app=None) -> dict:
    ports = {"inbound": inbound or free_port(), "outbound": free_port(), "admin": free_port()}
    log = open(tmp_path / f"sidecar-{service}.log", "wb")
    procs.append(subprocess.Popen(
        [*MESHTOOL, "proxy", "run", "--control-plane", cp.address, "--service", service,
         "--service-account", f"{service}-sa", "--token-file", str(token),
         "--proxy-id", f"{service}-0.{ns}", "--listen-host", host,
         *(("--app-port", str(app)) if app else ()),
         "--inbound-port", str(ports["inbound"]), "--outbound-port", str(ports["outbound"]),
         "--admin-port", str(ports["admin"]), "-v"],
        stdout=log, stderr=log, env={**os.environ, "POD_NAMESPACE": ns}))
    return ports


def _admin(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.load(r)


def _get(outbound: int, url: str) -> tuple[int, str, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", outbound, timeout=10)
    try:
        conn.request("GET", url)
        resp = conn.getresponse()
        return resp.status, resp.read().decode().strip(), dict(resp.getheaders())
    finally:
        conn.close()


def _plaintext(port: int) -> int | None:
    conn = http.client.HTTPConnection(POD_IP, port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": "benigno:5000"})
        return conn.getresponse().status
    except (ConnectionError, http.client.RemoteDisconnected):
        return None
    finally:
        conn.close()


def _meshtool(*args: str, kubeconfig: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*MESHTOOL, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "KUBECONFIG": str(kubeconfig), "NO_COLOR": "1"})


def _policy_names(admin: int, kind: str, ns: str) -> list[str]:
    return sorted(r["metadata"]["name"] for r in _admin(admin, "/config_dump")["snapshot"]["rules"]
                  if r["kind"] == kind and r["metadata"].get("namespace") == ns)


def test_native_mtls_and_access_policies_from_the_api_server_are_enforced(
        kube_cluster, kube_namespace, meshtool_crds, procs, tmp_path):
    ns, kubeconfig = kube_namespace, kube_cluster.kubeconfig
    core = client.CoreV1Api(kube_cluster.api_client)
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    benigno_token = write_token(core, ns, "benigno-sa", tmp_path / "benigno.token")
    sleep_token = write_token(core, ns, "sleep-sa", tmp_path / "sleep.token")

    app, inbound = free_port(), free_port()
    procs.append(subprocess.Popen(
        [sys.executable, str(ROOT / "samples/services/benigno.py"), "--port", str(app)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    # benigno's pod runs the sidecar: its endpoint is the sidecar's inbound port at the pod IP
    create_service(core, ns, "benigno", {"app": "benigno"}, port=5000, target=inbound)
    core.create_namespaced_pod(ns, client.V1Pod(
        metadata=client.V1ObjectMeta(name="benigno-0", labels={"app": "benigno"}),
        spec=client.V1PodSpec(service_account_name="benigno-sa", containers=[
            client.V1Container(name="app", image="meshtool-test/app:1"),
            client.V1Container(name="meshtool-proxy", image="meshtool/meshtool:1")])))
    set_pod_status(core, ns, "benigno-0", POD_IP, ready=True)

    cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
    cp.args = ("--kubeconfig", str(kubeconfig), "-n", ns, "--ca-dir", str(tmp_path / "ca"))
    with cp.start(timeout=30):
        cp.wait_for(lambda t: t.get("workloadsLoaded"), 15)
        b = _sidecar(procs, tmp_path, cp, ns, "benigno", benigno_token, host=POD_IP,
                     inbound=inbound, app=app)
        s = _sidecar(procs, tmp_path, cp, ns, "sleep", sleep_token)
        for ports in (b, s):
            wait_for(lambda p=ports: _admin(p["admin"], "/certs").get("state") == "active", 30,
                     what="a certificate for each sidecar (its token reviewed)")
        url = f"http://benigno.{ns}:5000/"
        wait_for(lambda: _get(s["outbound"], url)[0] == 200, 20, what="sleep reaches benigno")
        assert _plaintext(inbound) == 200  # PERMISSIVE until a policy says otherwise

        # STRICT, written through meshtool's kubernetes store (a CRD object)
        strict = tmp_path / "strict.yaml"
        strict.write_text(f"""\
apiVersion: {GROUP}/{VERSION}
kind: MTLSPolicy
metadata:
  name: benigno-strict
  namespace: {ns}
spec:
  destination: {{name: benigno}}
  mode: STRICT
""")
        made = _meshtool("create", "-f", str(strict), "--store", "kubernetes", kubeconfig=kubeconfig)
        assert made.returncode == 0, made.stderr
        assert "mtls-policy" in made.stderr, made.stderr
        assert custom.get_namespaced_custom_object(GROUP, VERSION, ns, "mtlspolicies",
                                                   "benigno-strict")["spec"]["mode"] == "STRICT"
        listed = _meshtool("get", "mtlspolicies", "-n", ns, "--store", "kubernetes",
                           kubeconfig=kubeconfig)
        assert listed.returncode == 0 and "benigno-strict" in listed.stdout, listed.stderr
        wait_for(lambda: _policy_names(b["admin"], "MTLSPolicy", ns) == ["benigno-strict"], 20,
                 what="the MTLSPolicy pushed")
        wait_for(lambda: _plaintext(inbound) is None, 10, what="plaintext refused")
        assert _get(s["outbound"], url)[:2] == (200, "Hello World, Benigno")  # over mTLS
        status = _meshtool("proxy-status", "--control-plane", cp.address, kubeconfig=kubeconfig)
        assert status.returncode == 0, status.stderr
        mtls = {line.split()[0]: line.split()[9] for line in status.stdout.splitlines()[1:]}
        assert mtls[f"benigno-0.{ns}"].startswith("STRICT("), status.stdout
        secret = _meshtool("proxy-config", "secret", f"benigno-0.{ns}", "--control-plane",
                           cp.address, kubeconfig=kubeconfig)
        assert secret.returncode == 0, secret.stderr
        assert f"SPIFFE ID   spiffe://cluster.local/ns/{ns}/sa/benigno-sa" in secret.stdout
        assert f"inbound     STRICT (set by {ns}/benigno-strict)" in secret.stdout, secret.stdout

        # A permission, created raw as kubectl would: the API server's schema refuses a bad
        # action, the control plane pushes the good one, benigno's sidecar denies sleep.
        deny = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AccessPolicy",
                "metadata": {"name": "deny-sleep", "namespace": ns},
                "spec": {"destination": {"name": "benigno"}, "action": "DENY", "rules": [
                    {"from": [{"principals": [f"cluster.local/ns/{ns}/sa/sleep-sa"]}]}]}}
        with pytest.raises(ApiException) as refused:
            custom.create_namespaced_custom_object(
                GROUP, VERSION, ns, "accesspolicies",
                {**deny, "spec": {**deny["spec"], "action": "LOG"}}, field_validation="Strict")
        assert refused.value.status == 422
        assert 'Unsupported value: "LOG"' in json.loads(refused.value.body)["message"]
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, "accesspolicies", deny,
                                               field_validation="Strict")
        wait_for(lambda: _get(s["outbound"], url)[0] == 403, 20, what="sleep denied")
        status_code, body, headers = _get(s["outbound"], url)
        assert body == "RBAC: access denied"
        assert headers["x-meshtool-denied-by"] == f"DENY {ns}/deny-sleep"
        assert _policy_names(s["admin"], "AccessPolicy", ns) == ["deny-sleep"]

        # Deleted through meshtool: sleep is served again.
        gone = _meshtool("delete", "accesspolicy", "deny-sleep", "-n", ns, "--store",
                         "kubernetes", kubeconfig=kubeconfig)
        assert gone.returncode == 0, gone.stderr
        wait_for(lambda: _get(s["outbound"], url)[0] == 200, 20, what="sleep allowed again")

        # Istio's AuthorizationPolicy written with meshtool: stored as the AccessPolicy it
        # converts to (writes with --store kubernetes convert other APIs), enforced the same
        istio = tmp_path / "istio-deny.yaml"
        istio.write_text(f"""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: deny-sleep-istio, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: benigno}}}}
  action: DENY
  rules:
  - from:
    - source: {{principals: ["cluster.local/ns/{ns}/sa/sleep-sa"]}}
""")
        made = _meshtool("create", "-f", str(istio), "--store", "kubernetes", kubeconfig=kubeconfig)
        assert made.returncode == 0, made.stderr
        stored = custom.list_namespaced_custom_object(GROUP, VERSION, ns, "accesspolicies")
        assert [o["metadata"]["name"] for o in stored["items"]] == ["deny-sleep-istio"]
        wait_for(lambda: _get(s["outbound"], url)[0] == 403, 20, what="denied by the converted")
        assert _get(s["outbound"], url)[2]["x-meshtool-denied-by"] == f"DENY {ns}/deny-sleep-istio"
