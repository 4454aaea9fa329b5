"""One control plane, two clusters (two real etcd + kube-apiserver pairs): `meshtool
create-remote-secret` makes a read-only reader in cluster 2; its Secret applied in the primary
cluster adds cluster 2's endpoints at run time, deleting it removes them.

Pod status is set through the status subresource (no kubelet runs); the pods' addresses are
loopback addresses, as the flat network of the multi-cluster layout would route them.
"""

import asyncio
import base64
import os
import subprocess
import sys
import time

import yaml
from kubernetes import client

from meshtool.controlplane.kubewatch import KubernetesWorkloads
from meshtool.controlplane.multicluster import MultiCluster
from meshtool.controlplane.server import ControlPlane
from meshtool.conventions import CLUSTER_LABEL, REMOTE_SECRET_LABEL
from meshtool.discovery.client import DiscoveryClient
from meshtool.discovery.protocol import Identity

from .kubeobjects import create_pod, create_service, set_pod_status


def helloworld(core, ns, version, ip):
    create_service(core, ns, "helloworld", {"app": "helloworld"}, port=5000, target=5000)
    create_pod(core, ns, f"helloworld-{version}", {"app": "helloworld", "version": version})
    set_pod_status(core, ns, f"helloworld-{version}", ip, ready=True)


def endpoints(snapshot):
    for svc in (snapshot or {}).get("services") or []:
        if svc["name"] == "helloworld":
            return sorted((e["address"], e["labels"].get("version"), e["labels"].get(CLUSTER_LABEL))
                          for e in svc["endpoints"])
    return []


def test_a_remote_secret_adds_and_removes_the_endpoints_of_another_cluster(
        kube_cluster, kube_cluster_2, kube_namespace):
    ns = kube_namespace
    core1 = client.CoreV1Api(kube_cluster.api_client)
    core2 = client.CoreV1Api(kube_cluster_2.api_client)
    core2.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    core2.create_namespaced_service_account(ns, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="default")))  # no controller would create it
    try:
        helloworld(core1, ns, "v1", "127.0.0.2")
        helloworld(core2, ns, "v2", "127.0.0.3")
        source = MultiCluster(KubernetesWorkloads(kube_cluster.api_client, ns),
                              kube_cluster.api_client, ns, cluster="cluster1", namespace=ns,
                              interval=0.2)
        made = subprocess.run(
            [sys.executable, "-m", "meshtool", "create-remote-secret", "--context", "meshtool-test",
             "--name", "cluster2"], capture_output=True, text=True, timeout=60,
            env={**os.environ, "KUBECONFIG": str(kube_cluster_2.kubeconfig)})
        assert made.returncode == 0, made.stderr
        secret = yaml.safe_load(made.stdout)
        assert secret["metadata"]["labels"] == {REMOTE_SECRET_LABEL: "true"}
        assert list(secret["data"]) == ["cluster2"]
        secret["metadata"]["namespace"] = ns  # the test's stand-in for meshtool-system
        name = secret["metadata"]["name"]
        one = [("127.0.0.2", "v1", "cluster1")]
        both = one + [("127.0.0.3", "v2", "cluster2")]

        async def main():
            cp = ControlPlane(None, workloads=source)
            await cp.start("127.0.0.1", 0)
            # in helloworld's namespace: a proxy receives its own namespace's services
            sleep = DiscoveryClient(cp.address, Identity(f"sleep.{ns}", "sleep", namespace=ns),
                                    lambda s: None)
            sleep.start()
            try:
                seen = [await sleep.wait_for(lambda c: endpoints(c.snapshot) == one, 20)]
                await asyncio.to_thread(core1.create_namespaced_secret, ns, secret)
                seen.append(await sleep.wait_for(lambda c: endpoints(c.snapshot) == both, 20))
                await asyncio.to_thread(core1.delete_namespaced_secret, name, ns)
                seen.append(await sleep.wait_for(lambda c: endpoints(c.snapshot) == one, 20))
                return seen, endpoints(sleep.snapshot)
            finally:
                await sleep.stop()
                await cp.stop()

        seen, last = asyncio.run(main())
        assert seen == [True, True, True], (seen, last)
        # the reader may read, not write: the kubeconfig in the Secret is not the admin's
        reader = yaml.safe_load(base64.b64decode(secret["data"]["cluster2"]))
        assert reader["users"][0]["user"]["token"] != kube_cluster_2.token
        from kubernetes import config
        from kubernetes.client.exceptions import ApiException

        as_reader = client.CoreV1Api(config.new_client_from_config_dict(reader))
        assert [s.metadata.name for s in as_reader.list_namespaced_service(ns).items] == \
            ["helloworld"]
        try:
            as_reader.create_namespaced_config_map(ns, {"metadata": {"name": "nope"}})
            raise AssertionError("the reader could write")
        except ApiException as exc:
            assert exc.status == 403
    finally:
        core2.delete_namespace(ns)


def _two_clusters(kube_cluster, kube_cluster_2, ns):
    """helloworld v1 in cluster 1 and v2 in cluster 2, cluster 2's remote secret already in
    place in cluster 1 (as when a control plane restarts); the remote secret."""
    from .kubeobjects import apply_remote_secret

    core1 = client.CoreV1Api(kube_cluster.api_client)
    core2 = client.CoreV1Api(kube_cluster_2.api_client)
    core2.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    core2.create_namespaced_service_account(ns, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="default")))
    helloworld(core1, ns, "v1", "127.0.0.2")
    helloworld(core2, ns, "v2", "127.0.0.3")
    return core2, apply_remote_secret(kube_cluster_2, core1, ns)


def _first_snapshots(source, ns, count=1, timeout=30.0):
    """Start a control plane on `source`; a proxy in `ns`: the helloworld endpoints of the
    first `count` snapshots it applied, and seconds from the start to the first."""
    applied = []

    def apply(snapshot):
        applied.append((time.monotonic(), endpoints(snapshot)))

    async def main():
        t0 = time.monotonic()
        cp = ControlPlane(None, workloads=source)
        await cp.start("127.0.0.1", 0)
        sleep = DiscoveryClient(cp.address, Identity(f"sleep.{ns}", "sleep", namespace=ns), apply)
        sleep.start()
        try:
            await sleep.wait_for(lambda c: len(applied) >= count, timeout)
        finally:
            await sleep.stop()
            await cp.stop()
        return t0

    t0 = asyncio.run(main())
    assert applied, "no snapshot applied"
    return [eps for _, eps in applied[:count]], applied[0][0] - t0


ONE = [("127.0.0.2", "v1", "cluster1")]
BOTH = ONE + [("127.0.0.3", "v2", "cluster2")]


def test_a_restarted_control_plane_waits_for_a_slower_remote_cluster(
        kube_cluster, kube_cluster_2, kube_namespace):
    """The first endpoint set pushed after a (re)start has every cluster a remote secret names:
    sidecars would otherwise drop the slower cluster's endpoints until the next push. The
    remote's client is built 1.5 s late here, standing in for a far or large cluster."""
    from meshtool.controlplane.multicluster import _client_from_kubeconfig

    ns = kube_namespace
    core2, _ = _two_clusters(kube_cluster, kube_cluster_2, ns)

    def far(config):
        time.sleep(1.5)
        return _client_from_kubeconfig(config)

    try:
        source = MultiCluster(KubernetesWorkloads(kube_cluster.api_client, ns),
                              kube_cluster.api_client, ns, cluster="cluster1", namespace=ns,
                              interval=0.2, connect=far)
        (first,), _ = _first_snapshots(source, ns)
        assert first == BOTH
    finally:
        core2.delete_namespace(ns)


def test_an_unreachable_remote_cluster_holds_the_first_push_back_only_for_the_warmup(
        kube_cluster, kube_cluster_2, kube_namespace):
    import yaml

    from meshtool.controlplane.multicluster import _client_from_kubeconfig
    from meshtool.ports import free_port

    ns = kube_namespace
    core2, _ = _two_clusters(kube_cluster, kube_cluster_2, ns)
    closed = free_port()  # nothing listens there

    def unreachable(config):
        doc = yaml.safe_load(config)
        doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{closed}"
        return _client_from_kubeconfig(yaml.safe_dump(doc))

    try:
        source = MultiCluster(KubernetesWorkloads(kube_cluster.api_client, ns, retry=0.2),
                              kube_cluster.api_client, ns, cluster="cluster1", namespace=ns,
                              interval=0.2, warmup=1.5, connect=unreachable)
        (first,), after = _first_snapshots(source, ns)
        assert first == ONE
        assert 1.4 <= after < 15, after  # held back for the warm-up, then cluster 1's alone
    finally:
        core2.delete_namespace(ns)
