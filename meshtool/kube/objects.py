"""Plain-dict access to the API server for the few kinds `meshtool install` manages.

Objects stay dicts (what the manifests are), so the same data is printed by `--dry-run`, sent by
server-side apply and read back by `check`. Requests go through the kubernetes client's ApiClient
(its kubeconfig, TLS and auth); only the path of each kind is ours.
"""

from __future__ import annotations

import json
from typing import Any

FIELD_MANAGER = "meshtool"

# kind -> (API path prefix, plural, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "Namespace": ("/api/v1", "namespaces", False),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Secret": ("/api/v1", "secrets", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Service": ("/api/v1", "services", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "IngressClass": ("/apis/networking.k8s.io/v1", "ingressclasses", False),
    "MutatingWebhookConfiguration": ("/apis/admissionregistration.k8s.io/v1",
                                     "mutatingwebhookconfigurations", False),
    "ValidatingWebhookConfiguration": ("/apis/admissionregistration.k8s.io/v1",
                                       "validatingwebhookconfigurations", False),
}


def path(kind: str, namespace: str | None = None, name: str | None = None) -> str:
    prefix, plural, namespaced = KINDS[kind]
    where = f"{prefix}/namespaces/{namespace}/{plural}" if namespaced else f"{prefix}/{plural}"
    return f"{where}/{name}" if name else where


def path_of(obj: dict) -> str:
    meta = obj["metadata"]
    return path(obj["kind"], meta.get("namespace"), meta["name"])


def call(api_client, method: str, url: str, *, query: dict | None = None, body: Any = None,
         content_type: str = "application/json") -> dict:
    """One request; the decoded JSON answer. ApiException (with .status) on any non-2xx."""
    from kubernetes.client.exceptions import ApiException

    params = api_client.param_serialize(
        method=method, resource_path=url,
        query_params=list((query or {}).items()) or None,
        header_params={"Accept": "application/json", "Content-Type": content_type},
        body=body, auth_settings=["BearerToken"])
    response = api_client.call_api(*params)
    response.read()
    if not 200 <= response.status <= 299:
        raise ApiException(http_resp=response)
    return json.loads(response.data) if response.data else {}


def apply(api_client, obj: dict, *, dry_run: bool = False) -> dict:
    """Server-side apply as FIELD_MANAGER, taking over fields other managers set (force)."""
    query = {"fieldManager": FIELD_MANAGER, "force": "true", "fieldValidation": "Strict"}
    if dry_run:
        query["dryRun"] = "All"
    return call(api_client, "PATCH", path_of(obj), query=query, body=obj,
                content_type="application/apply-patch+yaml")


def replace(api_client, obj: dict, resource_version: str, *, dry_run: bool = False) -> dict:
    """PUT the whole object at `resource_version` (as FIELD_MANAGER): for what server-side apply
    cannot merge, such as a webhook whose clientConfig someone switched from service to url
    (apply would keep both, and the API server allows exactly one)."""
    body = {**obj, "metadata": {**obj["metadata"], "resourceVersion": resource_version}}
    query = {"fieldManager": FIELD_MANAGER, "fieldValidation": "Strict"}
    if dry_run:
        query["dryRun"] = "All"
    return call(api_client, "PUT", path_of(obj), query=query, body=body)


def get(api_client, kind: str, name: str, namespace: str | None = None) -> dict | None:
    """The object, or None when it does not exist."""
    from kubernetes.client.exceptions import ApiException

    try:
        return call(api_client, "GET", path(kind, namespace, name))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def delete(api_client, kind: str, name: str, namespace: str | None = None) -> bool:
    """Delete (background propagation); False when it was already gone."""
    from kubernetes.client.exceptions import ApiException

    try:
        call(api_client, "DELETE", path(kind, namespace, name),
             body={"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"})
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def list_labelled(api_client, kind: str, selector: str, namespace: str | None = None) -> list[dict]:
    """Objects of a kind matching a label selector (in one namespace, or cluster-wide)."""
    prefix, plural, namespaced = KINDS[kind]
    url = path(kind, namespace) if namespaced and namespace else f"{prefix}/{plural}"
    return call(api_client, "GET", url, query={"labelSelector": selector}).get("items", [])


def pod_identity_env() -> list[dict]:
    """Container env POD_NAME and POD_NAMESPACE from the downward API (a proxy's id, and the
    namespace its pod runs in)."""
    return [{"name": name, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.{field}"}}}
            for name, field in (("POD_NAME", "name"), ("POD_NAMESPACE", "namespace"))]
