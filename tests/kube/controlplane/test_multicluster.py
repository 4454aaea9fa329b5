"""One control plane, two clusters (two real etcd + kube-apiserver pairs): a remote secret in the
primary cluster adds the other cluster's endpoints at run time, deleting it removes them.

Pod status is set through the status subresource (no kubelet runs); the pods' addresses are
loopback addresses, as the flat network of the multi-cluster layout would route them.
"""

import asyncio
import base64

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
        secret = client.V1Secret(
            metadata=client.V1ObjectMeta(name="meshtool-remote-secret-cluster2",
                                         labels={REMOTE_SECRET_LABEL: "true"}),
            data={"cluster2": base64.b64encode(kube_cluster_2.kubeconfig.read_bytes()).decode()})
        one = [("127.0.0.2", "v1", "cluster1")]
        both = one + [("127.0.0.3", "v2", "cluster2")]

        async def main():
            cp = ControlPlane(None, workloads=source)
            await cp.start("127.0.0.1", 0)
            sleep = DiscoveryClient(cp.address, Identity("sleep.default", "sleep"),
                                    lambda s: None)
            sleep.start()
            try:
                seen = [await sleep.wait_for(lambda c: endpoints(c.snapshot) == one, 20)]
                await asyncio.to_thread(core1.create_namespaced_secret, ns, secret)
                seen.append(await sleep.wait_for(lambda c: endpoints(c.snapshot) == both, 20))
                await asyncio.to_thread(core1.delete_namespaced_secret, secret.metadata.name, ns)
                seen.append(await sleep.wait_for(lambda c: endpoints(c.snapshot) == one, 20))
                return seen, endpoints(sleep.snapshot)
            finally:
                await sleep.stop()
                await cp.stop()

        seen, last = asyncio.run(main())
        assert seen == [True, True, True], (seen, last)
    finally:
        core2.delete_namespace(ns)
