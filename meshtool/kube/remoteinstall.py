"""`meshtool install --remote`: what a remote cluster needs when the control plane runs elsewhere.

A remote cluster (the multi-cluster layout: one primary runs the control plane) gets no control
plane of its own, only:
- the rule CRDs, so that rules can be written there too;
- the read-only ServiceAccount `meshtool-reader` and its ClusterRole (Services, Pods,
  Namespaces, Nodes), whose token `meshtool create-remote-secret` puts in the remote secret;
- an injection webhook configuration calling the primary's webhook by URL, at
  `/inject/cluster/NAME/control-plane/HOST:PORT`: the Pods it injects get that cluster's name
  and the primary's discovery address.
The objects carry install's labels, so `meshtool uninstall --remote` removes exactly them.
"""

from __future__ import annotations

import base64

from meshtool.kube import install
from meshtool.kube.remote import READER, RULES


def injection_url(control_plane: str, cluster: str, base: str | None = None) -> str:
    """The primary webhook's URL for this cluster's Pods (default: the control plane's host,
    port 15017)."""
    host = control_plane.rsplit(":", 1)[0] if control_plane.count(":") == 1 \
        or control_plane.startswith("[") else control_plane
    root = (base or f"https://{host}:{install.WEBHOOK_PORT}").rstrip("/")
    return f"{root}{'' if root.endswith('/inject') else '/inject'}/cluster/{cluster}" \
           f"/control-plane/{control_plane}"


def manifests(settings: install.Settings, control_plane: str, cluster: str,
              base: str | None = None, ca_pem: bytes | None = None) -> list[dict]:
    """Everything `install --remote` applies, CRDs first and the webhook last."""
    meta = install._meta
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": settings.namespace,
                              "labels": install.labels(settings, "namespace")}}
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": meta(READER, settings, "remote")}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": meta(READER, settings, "remote", namespaced=False), "rules": RULES}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": meta(READER, settings, "remote", namespaced=False),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": READER},
               "subjects": [{"kind": "ServiceAccount", "name": READER,
                             "namespace": settings.namespace}]}
    webhook = install.webhook_configuration(settings, b"")
    client_config = {"url": injection_url(control_plane, cluster, base)}
    if ca_pem:
        client_config["caBundle"] = base64.b64encode(ca_pem).decode()
    webhook["webhooks"][0]["clientConfig"] = client_config
    return [*install.crds(settings), namespace, account, role, binding, webhook]
