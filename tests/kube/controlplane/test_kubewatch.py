"""KubernetesWorkloads against the real API server: list, watch, readiness, deletes, relist."""

import asyncio
import time

from kubernetes import client

from meshtool.controlplane.kubewatch import Gone, KubernetesWorkloads

from .kubeobjects import create_pod, create_service, set_pod_status


async def wait_until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise TimeoutError("condition not met")


def addresses(workloads, name):
    for svc in workloads.services():
        if svc["name"] == name:
            return sorted(e["address"] for e in svc["endpoints"])
    return None


def test_pods_come_and_go_as_endpoints(kube_cluster, kube_namespace):
    core = client.CoreV1Api(kube_cluster.api_client)
    ns = kube_namespace
    create_service(core, ns, "benigno", {"app": "benigno"}, port=80, target=5000)
    create_pod(core, ns, "benigno-v1", {"app": "benigno", "version": "v1"})
    set_pod_status(core, ns, "benigno-v1", "10.1.0.1", ready=True)

    async def main():
        changes = []
        workloads = KubernetesWorkloads(kube_cluster.api_client, ns)
        workloads.start(asyncio.get_running_loop(), lambda: changes.append(1))
        try:
            await wait_until(lambda: workloads.ready)
            (svc,) = workloads.services()  # only this namespace is watched
            assert svc["ports"] == [80] and svc["addresses"] and svc["endpoints"] == [
                {"address": "10.1.0.1", "port": 5000,
                 "labels": {"app": "benigno", "version": "v1"}}]

            # A new pod is no endpoint until it is Ready.
            create_pod(core, ns, "benigno-v2", {"app": "benigno", "version": "v2"})
            set_pod_status(core, ns, "benigno-v2", "10.1.0.2", ready=False)
            await asyncio.sleep(0.3)
            assert addresses(workloads, "benigno") == ["10.1.0.1"]
            set_pod_status(core, ns, "benigno-v2", "10.1.0.2", ready=True)
            await wait_until(lambda: addresses(workloads, "benigno") == ["10.1.0.1", "10.1.0.2"])

            # Not ready again, then deleted; the service itself goes when deleted.
            set_pod_status(core, ns, "benigno-v1", "10.1.0.1", ready=False)
            await wait_until(lambda: addresses(workloads, "benigno") == ["10.1.0.2"])
            core.delete_namespaced_pod("benigno-v2", ns, grace_period_seconds=0)
            await wait_until(lambda: addresses(workloads, "benigno") == [])
            core.delete_namespaced_service("benigno", ns)
            await wait_until(lambda: workloads.services() == [])
            assert changes
        finally:
            await asyncio.get_running_loop().run_in_executor(None, workloads.stop)

    asyncio.run(main())


def test_gone_lists_again_and_sees_what_changed_meanwhile(kube_cluster, kube_namespace):
    """410 Gone (etcd compacted past the watch's version; not reproducible on demand on a fresh
    server, so the first watch reports it): the follower lists again and catches up."""
    core = client.CoreV1Api(kube_cluster.api_client)
    ns = kube_namespace
    create_service(core, ns, "svc", {"app": "a"})
    create_pod(core, ns, "a1", {"app": "a"})
    set_pod_status(core, ns, "a1", "10.1.0.7", ready=True)

    async def main():
        workloads = KubernetesWorkloads(kube_cluster.api_client, ns)
        follower = workloads._followers[1]
        real_watch, real_list, lists = follower._watch, follower._list, []

        def list_counted():
            lists.append(1)
            return real_list()

        def gone_once(version):
            if len(lists) == 1:  # meanwhile a pod became ready, and the watch missed it
                create_pod(core, ns, "a2", {"app": "a"})
                set_pod_status(core, ns, "a2", "10.1.0.8", ready=True)
                raise Gone("too old resource version: 1 (99)")
            return real_watch(version)

        follower._watch, follower._list = gone_once, list_counted
        workloads.start(asyncio.get_running_loop(), lambda: None)
        try:
            await wait_until(lambda: addresses(workloads, "svc") == ["10.1.0.7", "10.1.0.8"])
            assert len(lists) == 2
        finally:
            await asyncio.get_running_loop().run_in_executor(None, workloads.stop)

    asyncio.run(main())


def test_forbidden_until_rbac_is_bound_then_catches_up(kube_cluster, kube_namespace, caplog):
    """A control plane whose permissions arrive after it started (install order, a slow
    RBAC cache) logs the refusal, keeps retrying and catches up by itself."""
    core = client.CoreV1Api(kube_cluster.api_client)
    ns = kube_namespace
    create_service(core, ns, "svc", {"app": "a"})
    create_pod(core, ns, "a1", {"app": "a"})
    set_pod_status(core, ns, "a1", "10.1.0.9", ready=True)
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    token = core.create_namespaced_service_account_token("default", ns, request).status.token
    configuration = client.Configuration()
    configuration.host = kube_cluster.server
    configuration.ssl_ca_cert = str(kube_cluster.ca_file)
    configuration.api_key = {"authorization": f"Bearer {token}"}

    async def main():
        with client.ApiClient(configuration) as as_service_account:
            workloads = KubernetesWorkloads(as_service_account, ns, retry=0.2)
            workloads.start(asyncio.get_running_loop(), lambda: None)
            try:
                await wait_until(lambda: "HTTP 403" in caplog.text)
                assert not workloads.ready and workloads.services() == []
                rbac = client.RbacAuthorizationV1Api(kube_cluster.api_client)
                rbac.create_namespaced_role(ns, {
                    "metadata": {"name": "workloads"},
                    "rules": [{"apiGroups": [""], "resources": ["pods", "services"],
                               "verbs": ["get", "list", "watch"]}]})
                rbac.create_namespaced_role_binding(ns, {
                    "metadata": {"name": "workloads"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                "name": "workloads"},
                    "subjects": [{"kind": "ServiceAccount", "name": "default",
                                  "namespace": ns}]})
                await wait_until(lambda: addresses(workloads, "svc") == ["10.1.0.9"])
            finally:
                await asyncio.get_running_loop().run_in_executor(None, workloads.stop)

    with caplog.at_level("ERROR", logger="meshtool.controlplane"):
        asyncio.run(main())
