"""The remote clusters of a multi-cluster mesh, as `analyze --use-kube` sees them.

The primary cluster's remote secrets (label multicluster.meshtool.io/cluster=true, in the
control plane's namespace) each name clusters with a kubeconfig. For every one an Item of kind
`RemoteCluster` is made: its secret, its API server, the error when it cannot be read, and its
Services and Pods (plain manifests, never the kubeconfig). Only the multi-cluster analyzers read
that kind, so the remote objects never mix with the primary's.
"""

from __future__ import annotations

import base64
from typing import Any

from meshtool.analysis.items import KUBE, Item, as_dict, as_list
from meshtool.conventions import DEFAULT_NAMESPACE, REMOTE_SECRET_LABEL

REMOTE_CLUSTER = "RemoteCluster"
TIMEOUT = 5.0  # seconds for each remote API server to answer


def read_remote_clusters(api_client: Any, secrets_namespace: str,
                         namespace: str | None = None) -> list[Item]:
    """One RemoteCluster item per cluster named by the remote secrets (none when the secrets
    cannot be listed: the user may not be allowed to)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    try:
        secrets = client.CoreV1Api(api_client).list_namespaced_secret(
            secrets_namespace, label_selector=f"{REMOTE_SECRET_LABEL}=true").items
    except ApiException:
        return []
    items = []
    for secret in secrets:
        for cluster, value in sorted((secret.data or {}).items()):
            items.append(_cluster(secret.metadata.name, secrets_namespace, cluster, value,
                                  namespace))
    return items


def _cluster(secret: str, secrets_namespace: str, cluster: str, value: str,
             namespace: str | None) -> Item:
    manifest: dict[str, Any] = {"kind": REMOTE_CLUSTER,
                                "metadata": {"name": cluster, "namespace": secrets_namespace},
                                "secret": secret, "server": None, "error": None,
                                "services": [], "pods": []}
    try:
        import yaml
        from kubernetes import client, config

        kubeconfig = yaml.safe_load(base64.b64decode(value))
        remote = config.new_client_from_config_dict(kubeconfig)
        manifest["server"] = remote.configuration.host
        with remote:
            core = client.CoreV1Api(remote)
            for kind, many, one in (("services", "list_service_for_all_namespaces",
                                     "list_namespaced_service"),
                                    ("pods", "list_pod_for_all_namespaces", "list_namespaced_pod")):
                found = (getattr(core, one)(namespace, _request_timeout=TIMEOUT) if namespace
                         else getattr(core, many)(_request_timeout=TIMEOUT))
                manifest[kind] = [remote.sanitize_for_serialization(o) for o in found.items]
    except Exception as exc:  # noqa: BLE001 - any failure is the finding itself
        manifest["error"] = _reason(exc)
    return Item(REMOTE_CLUSTER, cluster, secrets_namespace, manifest, origin=KUBE)


def remote_objects(cluster: Item, kind: str) -> dict[tuple[str, str], dict]:
    """(namespace, name) -> manifest of a RemoteCluster item's "services" or "pods"."""
    out: dict[tuple[str, str], dict] = {}
    for obj in as_list(cluster.manifest.get(kind)):
        meta = as_dict(as_dict(obj).get("metadata"))
        name, namespace = meta.get("name"), meta.get("namespace") or DEFAULT_NAMESPACE
        if isinstance(name, str) and isinstance(namespace, str):
            out[(namespace, name)] = obj
    return out


def _reason(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    if status:
        return f"HTTP {status} {getattr(exc, 'reason', '')}".strip()
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
