"""Services and Pods for the control-plane tests; Pod status is set through the status
subresource, since no kubelet runs to give Pods an IP and readiness."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from meshtool.testing.kubecluster import pod_status, remote_secret


def create_service(core: client.CoreV1Api, namespace: str, name: str, selector: dict | None,
                   port: int = 5000, target: int | str = 5000) -> client.V1Service:
    spec = client.V1ServiceSpec(ports=[client.V1ServicePort(port=port, target_port=target)],
                                selector=selector)
    return core.create_namespaced_service(namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name=name), spec=spec))


def create_pod(core: client.CoreV1Api, namespace: str, name: str, labels: dict) -> None:
    container = client.V1Container(name="app", image="meshtool-test/app:1")
    core.create_namespaced_pod(namespace, client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(containers=[container])))


def set_pod_status(core: client.CoreV1Api, namespace: str, name: str, ip: str,
                   ready: bool) -> None:
    """What the kubelet would report: Running at `ip`, Ready or not."""
    core.patch_namespaced_pod_status(name, namespace, {"status": pod_status(ip, ready)})


def apply_remote_secret(remote, primary: client.CoreV1Api, namespace: str,
                        name: str = "cluster2") -> dict:
    """What a user does to join a cluster: the real `meshtool create-remote-secret` against the
    remote cluster (a KubeCluster fixture), its Secret created in `namespace` of the primary
    (the tests' stand-in for meshtool-system). Returns the Secret."""
    secret = remote_secret(remote, name)
    secret["metadata"]["namespace"] = namespace
    primary.create_namespaced_secret(namespace, secret)
    return secret


def token_for(core: client.CoreV1Api, ns: str, account: str, seconds: int = 600) -> str:
    """A new service account and a token of it (TokenRequest), as a pod's projected token."""
    core.create_namespaced_service_account(ns, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name=account)))
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
        audiences=["https://kubernetes.default.svc.cluster.local"], expiration_seconds=seconds))
    return core.create_namespaced_service_account_token(account, ns, request).status.token


def write_token(core: client.CoreV1Api, ns: str, account: str, path: Path) -> Path:
    """token_for, written where a sidecar's --token-file reads it."""
    path.write_text(token_for(core, ns, account, seconds=3600))
    return path
