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


def token_for(core, ns, account):
    core.create_namespaced_service_account(ns, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name=account)))
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
        audiences=["https://kubernetes.default.svc.cluster.local"], expiration_seconds=600))
    return core.create_namespaced_service_account_token(account, ns, request).status.token


async def ask(address, ns, service, account, token):
    import aiohttp

    key = workload.new_key()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(stream_url(address)) as ws:
            hello = {"type": "hello", "proxyId": f"{service}.{ns}", "service": service,
                     "namespace": ns}
            if account:
                hello["serviceAccount"] = account
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
