"""Kubernetes mode: a sidecar's CSR is authenticated with its pod's service account token,
reviewed by the real API server (TokenReview); a token of another service account is refused."""

import asyncio
import json

from kubernetes import client

from meshtool.controlplane.kubewatch import KubernetesWorkloads
from meshtool.controlplane.server import ControlPlane
from meshtool.controlplane.tokenreview import TokenReviewer
from meshtool.discovery.protocol import csr_message, stream_url
from meshtool.security import workload
from meshtool.security.ca import MeshCA

from .kubeobjects import token_for


async def ask(address, ns, service, account, token, cluster=None):
    import aiohttp

    key = workload.new_key()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(stream_url(address)) as ws:
            hello = {"type": "hello", "proxyId": f"{service}.{ns}", "service": service,
                     "namespace": ns}
            if account:
                hello["serviceAccount"] = account
            if cluster:
                hello["labels"] = {"topology.meshtool.io/cluster": cluster}
            await ws.send_str(json.dumps(hello))
            await ws.send_str(json.dumps(csr_message("r1", workload.csr_pem(key), token)))
            async for msg in ws:
                data = json.loads(msg.data)
                if data.get("type") == "certificate":
                    if "error" in data:
                        return data["error"]
                    return workload.accept(key, data["certChain"], data["rootCerts"]).spiffe_id


def test_a_csr_gets_the_identity_its_token_proves_and_no_other(kube_cluster, kube_namespace,
                                                              tmp_path, caplog):
    ns = kube_namespace
    core = client.CoreV1Api(kube_cluster.api_client)
    sleep, other = token_for(core, ns, "sleep"), token_for(core, ns, "other")

    async def main():
        cp = ControlPlane(None, workloads=KubernetesWorkloads(kube_cluster.api_client, ns),
                          ca=MeshCA.load_or_create(tmp_path / "ca"),
                          token_reviewer=TokenReviewer(kube_cluster.api_client))
        await cp.start("127.0.0.1", 0)
        try:
            return [await ask(cp.address, ns, "sleep", "sleep", sleep),
                    await ask(cp.address, ns, "sleep", None, sleep),
                    await ask(cp.address, ns, "sleep", "sleep", other),
                    await ask(cp.address, ns, "sleep", "sleep", None),
                    await ask(cp.address, ns, "sleep", "sleep", "not-a-token")]
        finally:
            await cp.stop()

    answers = asyncio.run(main())
    assert answers[0] == f"spiffe://cluster.local/ns/{ns}/sa/sleep"
    assert answers[1] == f"spiffe://cluster.local/ns/{ns}/sa/sleep"  # named by the token
    assert answers[2] == (f"the token is for service account {ns}/other, the proxy registered "
                          f"as {ns}/sleep")
    assert answers[3] == "in Kubernetes mode a CSR must carry the pod's service account token"
    assert answers[4].startswith("the service account token does not authenticate")
    assert sleep not in caplog.text and other not in caplog.text  # tokens never logged


def test_a_remote_clusters_sidecar_is_reviewed_by_its_own_api_server(
        kube_cluster, kube_cluster_2, kube_namespace, tmp_path):
    """One CA for both clusters: a sidecar saying it runs in cluster2 gets its certificate for
    the service account its token proves there (reviewed by cluster2's API server with the
    remote secret's reader); the same token claimed from the primary, or from a cluster no
    remote secret names, is refused."""
    from meshtool.controlplane.multicluster import MultiCluster

    from .kubeobjects import apply_remote_secret

    ns = kube_namespace
    core1 = client.CoreV1Api(kube_cluster.api_client)
    core2 = client.CoreV1Api(kube_cluster_2.api_client)
    core2.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        token = token_for(core2, ns, "sleep")
        apply_remote_secret(kube_cluster_2, core1, ns)
        source = MultiCluster(KubernetesWorkloads(kube_cluster.api_client, ns),
                              kube_cluster.api_client, ns, cluster="cluster1", namespace=ns,
                              interval=0.2)

        async def main():
            cp = ControlPlane(None, workloads=source, ca=MeshCA.load_or_create(tmp_path / "ca"),
                              token_reviewer=TokenReviewer(
                                  kube_cluster.api_client, cluster="cluster1",
                                  remote=source.api_client_of))
            await cp.start("127.0.0.1", 0)
            try:
                for _ in range(200):  # the poller reads the remote secret within its interval
                    if source.api_client_of("cluster2") is not None:
                        break
                    await asyncio.sleep(0.05)
                return [await ask(cp.address, ns, "sleep", "sleep", token, cluster)
                        for cluster in ("cluster2", "cluster1", "cluster9")]
            finally:
                await cp.stop()

        answers = asyncio.run(main())
        assert answers[0] == f"spiffe://cluster.local/ns/{ns}/sa/sleep", answers
        assert answers[1].startswith("the service account token does not authenticate")
        assert answers[2] == ("the proxy runs in cluster 'cluster9', which no remote secret "
                              "names: its token cannot be reviewed")
    finally:
        core2.delete_namespace(ns)
