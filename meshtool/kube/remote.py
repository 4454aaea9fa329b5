"""A remote cluster's read-only access for the primary control plane (`create-remote-secret`).

In the remote cluster: a ServiceAccount `meshtool-reader` (namespace meshtool-system) allowed to
get, list and watch Services, Pods, Namespaces and Nodes, nothing else; a token for it from the
TokenRequest API. Out: a Secret for the primary cluster's control-plane namespace, labelled
`multicluster.meshtool.io/cluster=true`, whose data key (the cluster's name) holds a kubeconfig
with the remote API server's address, its CA and that token.
"""

from __future__ import annotations

import base64
from typing import Any

from meshtool.conventions import REMOTE_SECRET_LABEL
from meshtool.errors import MeshtoolError

READER = "meshtool-reader"
NAMESPACE = "meshtool-system"
TOKEN_SECONDS = 365 * 24 * 3600
RULES = [{"apiGroups": [""], "resources": ["services", "pods", "namespaces", "nodes"],
          "verbs": ["get", "list", "watch"]},
         # the primary's CA reviews the tokens of this cluster's sidecars here (their identity)
         {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"],
          "verbs": ["create"]}]


def _ensure(create, *args) -> None:
    """Create, or leave what exists (409) as it is: idempotent."""
    from kubernetes.client.exceptions import ApiException

    try:
        create(*args)
    except ApiException as exc:
        if exc.status != 409:
            raise


def ensure_reader(api_client: Any, namespace: str = NAMESPACE) -> None:
    """The read-only ServiceAccount and its RBAC in the remote cluster."""
    from kubernetes import client

    core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
    labels = {"app.kubernetes.io/part-of": "meshtool", "app.kubernetes.io/component": "remote"}
    _ensure(core.create_namespace, {"metadata": {"name": namespace, "labels": labels}})
    _ensure(core.create_namespaced_service_account, namespace,
            {"metadata": {"name": READER, "labels": labels}})
    _ensure(rbac.create_cluster_role, {"metadata": {"name": READER, "labels": labels},
                                       "rules": RULES})
    _ensure(rbac.create_cluster_role_binding, {
        "metadata": {"name": READER, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": READER},
        "subjects": [{"kind": "ServiceAccount", "name": READER, "namespace": namespace}]})


def reader_token(api_client: Any, namespace: str = NAMESPACE,
                 seconds: int = TOKEN_SECONDS) -> str:
    from kubernetes import client

    request = {"spec": {"audiences": [], "expirationSeconds": seconds}}
    answer = client.CoreV1Api(api_client).create_namespaced_service_account_token(
        READER, namespace, request)
    return answer.status.token


def remote_kubeconfig(api_client: Any, name: str, token: str) -> dict:
    cfg = api_client.configuration
    cluster: dict[str, Any] = {"server": cfg.host}
    if cfg.ssl_ca_cert:
        with open(cfg.ssl_ca_cert, "rb") as f:
            cluster["certificate-authority-data"] = base64.b64encode(f.read()).decode()
    elif not cfg.verify_ssl:
        cluster["insecure-skip-tls-verify"] = True
    return {"apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": READER, "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": READER}}],
            "current-context": name}


def remote_secret(name: str, kubeconfig: dict, namespace: str = NAMESPACE) -> dict:
    import yaml

    text = yaml.safe_dump(kubeconfig, sort_keys=False)
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": f"meshtool-remote-secret-{name}", "namespace": namespace,
                         "labels": {REMOTE_SECRET_LABEL: "true"},
                         "annotations": {"meshtool.io/cluster-server": kubeconfig["clusters"][0]
                                         ["cluster"]["server"]}},
            "type": "Opaque",
            "data": {name: base64.b64encode(text.encode()).decode()}}


def create_remote_secret(api_client: Any, name: str, namespace: str = NAMESPACE) -> dict:
    """Make the reader in the remote cluster; the Secret to apply in the primary one."""
    from kubernetes.client.exceptions import ApiException

    try:
        ensure_reader(api_client, namespace)
        token = reader_token(api_client, namespace)
    except ApiException as exc:
        raise MeshtoolError(f"remote cluster {api_client.configuration.host}: "
                            f"{exc.status} {exc.reason}") from None
    return remote_secret(name, remote_kubeconfig(api_client, name, token), namespace)
