"""Kubernetes mode with the mesh CA, against the real API server: the endpoint of a Pod that
runs the sidecar carries the SPIFFE ID of the Pod's service account (what callers verify); a
Pod without a sidecar carries none, so callers speak plaintext to it."""

from __future__ import annotations

import json
import urllib.request

from kubernetes import client

from meshtool.testing.processes import ControlPlaneProcess

from .kubeobjects import create_service, set_pod_status


def _pod(core, namespace: str, name: str, account: str | None, sidecar: bool) -> None:
    containers = [client.V1Container(name="app", image="meshtool-test/app:1")]
    if sidecar:
        containers.append(client.V1Container(name="meshtool-proxy", image="meshtool/meshtool:1"))
    core.create_namespaced_pod(namespace, client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": "benigno"}),
        spec=client.V1PodSpec(containers=containers, service_account_name=account)))


def _identities(cp: ControlPlaneProcess) -> dict[str, str | None]:
    with urllib.request.urlopen(f"http://{cp.address}/debug/config_dump", timeout=5) as r:
        dump = json.load(r)
    return {e["address"]: e.get("identity") for s in dump["snapshot"]["services"]
            if s["name"] == "benigno" for e in s["endpoints"]}


def test_meshed_pods_endpoints_name_their_service_account(kube_cluster, kube_namespace,
                                                          meshtool_crds, tmp_path):
    core = client.CoreV1Api(kube_cluster.api_client)
    ns = kube_namespace
    core.create_namespaced_service_account(ns, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="benigno-sa")))
    create_service(core, ns, "benigno", {"app": "benigno"})
    _pod(core, ns, "benigno-meshed", "benigno-sa", sidecar=True)
    _pod(core, ns, "benigno-plain", None, sidecar=False)
    set_pod_status(core, ns, "benigno-meshed", "127.0.0.2", ready=True)
    set_pod_status(core, ns, "benigno-plain", "127.0.0.3", ready=True)
    cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
    cp.args = ("--kubeconfig", str(kube_cluster.kubeconfig), "-n", ns, "--ca-dir",
               str(tmp_path / "ca"), "--trust-domain", "example.org")
    with cp.start(timeout=30):
        cp.wait_for(lambda t: t.get("workloadsLoaded"), 15)
        assert cp.wait_for(lambda t: len(_identities(cp)) == 2 and t, 15)
        assert _identities(cp) == {
            "127.0.0.2": f"spiffe://example.org/ns/{ns}/sa/benigno-sa",
            "127.0.0.3": None}
