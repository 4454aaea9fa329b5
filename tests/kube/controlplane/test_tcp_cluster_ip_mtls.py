"""Opaque TCP addressed to a Service's cluster IP, in transparent mode, under STRICT: the
outbound sidecar resolves the cluster IP to the mesh service, picks one of its endpoints and
originates mTLS to it, verifying the endpoint's SPIFFE ID, as it does for HTTP.

Real processes in network namespaces (tests/security/pods.py: pods on a bridge, `meshtool proxy
init`'s iptables, transparent sidecars as UID 1337) and the control plane in Kubernetes mode
against the real API server: the Service's cluster IP is the one the API server allocated, the
pods' addresses are set in their status as the kubelet would, the sidecars' certificates are
issued for their pods' service account tokens (TokenReview), and STRICT is a native MTLSPolicy
created through the API server. No kube-proxy runs, so the cluster IP leads nowhere by itself:
only a sidecar that sends the connection to an endpoint gets an answer.
Needs root, iproute2, iptables, setpriv, curl (scripts/system-deps.sh).
"""

from __future__ import annotations

import json
import sys

import pytest
from kubernetes import client

from meshtool.testing.processes import ControlPlaneProcess
from meshtool.testing.wait import wait_for
from tests.security.pods import TCP_CLIENT, TCP_SERVER, Cluster, skip_reason

from .kubeobjects import set_pod_status, write_token

pytestmark = pytest.mark.timeout(180)
GROUP, VERSION = "config.meshtool.io", "v1alpha1"
OK = "store ready\necho ping"


def _token(core, ns: str, account: str, path) -> list[str]:
    """The service account and a token of it, as `proxy run` options (the file readable by
    the sidecar's UID, like a projected token)."""
    write_token(core, ns, account, path)
    path.chmod(0o644)
    return ["--service-account", account, "--token-file", str(path)]


def _pod(core, ns: str, name: str, app: str, account: str, ip: str) -> None:
    core.create_namespaced_pod(ns, client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": app}),
        spec=client.V1PodSpec(service_account_name=account, containers=[
            client.V1Container(name="app", image="meshtool-test/app:1"),
            client.V1Container(name="meshtool-proxy", image="meshtool/meshtool:1")])))
    set_pod_status(core, ns, name, ip, ready=True)


def _tcp_call(ns_of_pod, address: str) -> dict:
    r = ns_of_pod.run(sys.executable, "-c", TCP_CLIENT, address, check=False)
    return json.loads(r.stdout)


def _metrics(pod) -> str:
    return pod.curl("http://127.0.0.1:15020/stats/prometheus").stdout


def test_tcp_to_a_cluster_ip_goes_over_mtls_to_a_strict_endpoint(
        kube_cluster, kube_namespace, meshtool_crds, tmp_path):
    reason = skip_reason("this test needs", ("ip", "iptables", "setpriv", "curl"))
    if reason:
        pytest.skip(reason)
    ns = kube_namespace
    core = client.CoreV1Api(kube_cluster.api_client)
    custom = client.CustomObjectsApi(kube_cluster.api_client)
    c = Cluster()
    try:
        c.setup()
        host = c.link_host()
        sleep, store = c.add_pod("sleep", 3), c.add_pod("store", 4)
        store.start(sys.executable, "-c", TCP_SERVER, log="app.log")
        store_args = _token(core, ns, "store-sa", store.dir / "token")
        sleep_args = _token(core, ns, "sleep-sa", sleep.dir / "token")
        service = core.create_namespaced_service(ns, client.V1Service(
            metadata=client.V1ObjectMeta(name="store"),
            spec=client.V1ServiceSpec(selector={"app": "store"}, ports=[
                client.V1ServicePort(name="tcp-store", port=7000, target_port=7000)])))
        cluster_ip = service.spec.cluster_ip
        assert cluster_ip and cluster_ip.startswith("10.96."), cluster_ip
        _pod(core, ns, "store-0", "store", "store-sa", store.address)
        _pod(core, ns, "sleep-0", "sleep", "sleep-sa", sleep.address)

        cp = ControlPlaneProcess("kubernetes", log=tmp_path / "cp.log")
        cp.args = ("--kubeconfig", str(kube_cluster.kubeconfig), "-n", ns, "--ca-dir",
                   str(tmp_path / "ca"), "--listen", f"0.0.0.0:{cp.port}")
        with cp.start(timeout=30):
            cp.wait_for(lambda t: t.get("workloadsLoaded"), 15)
            address = f"{host}:{cp.port}"
            c.inject(store, "store", 7000, address, namespace=ns, proxy_id=f"store-0.{ns}",
                     extra=tuple(store_args))
            c.inject(sleep, "sleep", 4000, address, namespace=ns, proxy_id=f"sleep-0.{ns}",
                     extra=tuple(sleep_args))
            store_id = c.wait_certified(store)["spiffeId"]
            assert store_id == f"spiffe://cluster.local/ns/{ns}/sa/store-sa"
            sleep_id = c.wait_certified(sleep)["spiffeId"]

            custom.create_namespaced_custom_object(GROUP, VERSION, ns, "mtlspolicies", {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "MTLSPolicy",
                "metadata": {"name": "store-strict", "namespace": ns},
                "spec": {"destination": {"name": "store"}, "mode": "STRICT"}})
            # STRICT in force: plaintext from the node (no sidecar there) is closed
            wait_for(lambda: _tcp_call(c.node, store.address)["got"] == "", 20, interval=0.2,
                     what="STRICT refuses the node's plaintext")
            # the sleep pod's app dials the cluster IP: its sidecar takes it to the store pod
            # inside mTLS; greeting and echo come back
            try:
                wait_for(lambda: _tcp_call(sleep, cluster_ip)["got"] == OK, 20, interval=0.2,
                         what="TCP to the cluster IP answered")
            except TimeoutError as exc:
                raise AssertionError(f"{exc}: {sleep.log('sidecar.log')[-3000:]}") from None
            metrics = _metrics(store)
            assert f'security="mutual_tls",source="{sleep_id}"' in metrics, metrics
            assert f'security="refused",source="{c.node.address}"' in metrics

            # the store's sidecar knows who dialled the cluster IP: a permission denying
            # sleep's identity closes its connections, at connection time
            custom.create_namespaced_custom_object(GROUP, VERSION, ns, "accesspolicies", {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "AccessPolicy",
                "metadata": {"name": "deny-sleep", "namespace": ns},
                "spec": {"destination": {"name": "store"}, "action": "DENY", "rules": [
                    {"from": [{"principals": [sleep_id.removeprefix("spiffe://")]}]}]}})
            wait_for(lambda: _tcp_call(sleep, cluster_ip)["got"] == "", 20, interval=0.2,
                     what="DENY closes sleep's connection")
            assert "meshtool_permission_denied_connections_total{" \
                f'policy="DENY {ns}/deny-sleep",source="{sleep_id}"}}' in _metrics(store)
    finally:
        c.teardown()
