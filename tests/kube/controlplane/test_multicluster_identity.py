"""Workload identity across two real clusters (two etcd + kube-apiserver pairs), with real
processes: one control plane with the mesh CA (`--cluster-name cluster1`, a remote secret made by
the real `create-remote-secret` for cluster 2). The endpoints of both clusters' meshed pods carry
the SPIFFE ID of their pod's service account (one trust domain, one root), so under STRICT
sleep's sidecar reaches helloworld v1 (cluster 1) and v2 (cluster 2) alike over mTLS, verifying
each one's identity; each sidecar's certificate was issued for a token its own cluster's API
server reviewed.

As in test_multicluster_traffic: no kubelet runs, pod addresses are loopback addresses set
through the status subresource, and each cluster's Service targets its helloworld sidecar's
inbound port.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from kubernetes import client

from meshtool.conventions import CLUSTER_LABEL
from meshtool.testing.processes import ControlPlaneProcess, free_port
from meshtool.testing.wait import wait_for

from .kubeobjects import apply_remote_secret, create_service, set_pod_status, write_token
from .test_kube_mode import config_dump, procs  # noqa: F401 - procs is a fixture

ROOT = Path(__file__).resolve().parents[3]
MESHTOOL = [sys.executable, "-m", "meshtool"]
HELLO = {"cluster1": ("127.0.0.2", "v1"), "cluster2": ("127.0.0.3", "v2")}  # pod IP, version


def _start(procs, log: Path, *argv: str, env: dict | None = None) -> None:
    out = open(log, "wb")
    procs.append(subprocess.Popen(list(argv), stdout=out, stderr=out,
                                  env={**os.environ, **(env or {})}))


def _sidecar(procs, tmp_path, cp: str, ns: str, name: str, service: str, account: str,
             token: Path, cluster: str, app: int, host: str = "127.0.0.1",
             version: str | None = None) -> dict:
    ports = {"inbound": free_port(), "outbound": free_port(), "admin": free_port()}
    labels = ["--label", f"version={version}"] if version else []
    _start(procs, tmp_path / f"{name}-sidecar.log", *MESHTOOL, "proxy", "run",
           "--control-plane", cp, "--service", service, *labels, "--cluster", cluster,
           "--service-account", account, "--token-file", str(token),
           "--proxy-id", f"{name}.{ns}", "--listen-host", host, "--app-port", str(app),
           "--inbound-port", str(ports["inbound"]), "--outbound-port", str(ports["outbound"]),
           "--admin-port", str(ports["admin"]), "-v", env={"POD_NAMESPACE": ns})
    return ports


def _certified(admin: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/certs", timeout=5) as r:
            certs = json.load(r)
    except OSError:
        return None
    return certs.get("spiffeId") if certs.get("state") == "active" else None


def _hello_endpoints(admin: int) -> list[tuple[str, str | None, str | None]]:
    """helloworld's endpoints in a sidecar's snapshot: (address, cluster, identity)."""
    for svc in (config_dump(admin)["snapshot"] or {}).get("services") or []:
        if svc["name"] == "helloworld":
            return sorted((e["address"], e["labels"].get(CLUSTER_LABEL), e.get("identity"))
                          for e in svc["endpoints"])
    return []


def _plaintext(host: str, port: int) -> int | None:
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", "/hello", headers={"Host": "helloworld:5000"})
        return conn.getresponse().status
    except (ConnectionError, http.client.RemoteDisconnected):
        return None
    finally:
        conn.close()


def _call(sleep_port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{sleep_port}/call", timeout=15) as r:
        return r.read().decode().split(",")[0]  # "Hello version: v2"


def _metrics(admin: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats/prometheus", timeout=5) as r:
        return r.read().decode()


def test_remote_endpoints_carry_their_pods_identity_and_mtls_crosses_clusters(
        kube_cluster, kube_cluster_2, kube_namespace, procs, tmp_path):
    ns = kube_namespace
    cores = {"cluster1": client.CoreV1Api(kube_cluster.api_client),
             "cluster2": client.CoreV1Api(kube_cluster_2.api_client)}
    cores["cluster2"].create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    hello_id = f"spiffe://cluster.local/ns/{ns}/sa/helloworld"
    sleep_id = f"spiffe://cluster.local/ns/{ns}/sa/sleep"
    try:
        apply_remote_secret(kube_cluster_2, cores["cluster1"], ns)
        store = tmp_path / "mesh.db"
        cp = ControlPlaneProcess(store, log=tmp_path / "cp.log", env={"POD_NAMESPACE": ns},
                                 args=("--workloads", "kubernetes", "--cluster-name", "cluster1",
                                       "--kubeconfig", str(kube_cluster.kubeconfig),
                                       "--context", "meshtool-test", "-n", ns,
                                       "--ca-dir", str(tmp_path / "ca")))
        with cp.start(timeout=30):
            admins, inbound = {}, {}
            for cluster, (ip, version) in HELLO.items():
                core = cores[cluster]
                token = write_token(core, ns, "helloworld", tmp_path / f"{cluster}.token")
                app = free_port()
                _start(procs, tmp_path / f"helloworld-{version}.log", sys.executable,
                       str(ROOT / "samples/services/helloworld.py"), "--port", str(app),
                       "--version", version)
                ports = _sidecar(procs, tmp_path, cp.address, ns, f"helloworld-{version}",
                                 "helloworld", "helloworld", token, cluster, app, host=ip,
                                 version=version)
                admins[cluster], inbound[cluster] = ports["admin"], ports["inbound"]
                create_service(core, ns, "helloworld", {"app": "helloworld"}, port=5000,
                               target=ports["inbound"])
                pod = f"helloworld-{version}"
                core.create_namespaced_pod(ns, client.V1Pod(
                    metadata=client.V1ObjectMeta(name=pod, labels={"app": "helloworld",
                                                                   "version": version}),
                    spec=client.V1PodSpec(service_account_name="helloworld", containers=[
                        client.V1Container(name="helloworld", image="meshtool-test/app:1"),
                        client.V1Container(name="meshtool-proxy", image="meshtool/meshtool:1")])))
                set_pod_status(core, ns, pod, ip, ready=True)
            sleep_app = free_port()
            sleep_token = write_token(cores["cluster1"], ns, "sleep", tmp_path / "sleep.token")
            sleep = _sidecar(procs, tmp_path, cp.address, ns, "sleep", "sleep", "sleep",
                             sleep_token, "cluster1", sleep_app)
            _start(procs, tmp_path / "sleep.log", sys.executable,
                   str(ROOT / "samples/services/sleep.py"), "--port", str(sleep_app),
                   env={"HTTP_PROXY": f"http://127.0.0.1:{sleep['outbound']}",
                        "NO_PROXY": "127.0.0.1"})

            # every sidecar holds a certificate its own cluster's API server vouched for
            for admin in (*admins.values(), sleep["admin"]):
                wait_for(lambda a=admin: _certified(a), 30, what="a workload certificate")
            assert _certified(admins["cluster2"]) == hello_id
            assert _certified(sleep["admin"]) == sleep_id
            # the remote endpoint names its pod's service account, as the local one does
            want = [("127.0.0.2", "cluster1", hello_id), ("127.0.0.3", "cluster2", hello_id)]
            wait_for(lambda: _hello_endpoints(sleep["admin"]) == want, 30,
                     what="both clusters' endpoints, with identities")

            strict = tmp_path / "strict.yaml"
            strict.write_text(f"""\
apiVersion: config.meshtool.io/v1alpha1
kind: MTLSPolicy
metadata: {{name: helloworld-strict, namespace: {ns}}}
spec: {{destination: {{name: helloworld}}, mode: STRICT}}
""")
            made = subprocess.run([*MESHTOOL, "apply", "-f", str(strict), "--store", str(store)],
                                  capture_output=True, text=True, timeout=30)
            assert made.returncode == 0, made.stderr
            ip2 = HELLO["cluster2"][0]
            wait_for(lambda: _plaintext(ip2, inbound["cluster2"]) is None, 20,
                     what="STRICT in cluster 2's sidecar")
            seen = {_call(sleep_app) for _ in range(6)}
            assert seen == {"Hello version: v1", "Hello version: v2"}, seen
            for cluster in HELLO:
                assert f'security="mutual_tls",source="{sleep_id}"' in _metrics(admins[cluster])
    finally:
        cores["cluster2"].delete_namespace(ns)
