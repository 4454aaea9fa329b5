"""The ingress gateway's manifests for `meshtool install --gateway`.

A Deployment running `meshtool gateway run` (HTTP on 8080, HTTPS on 8443 with the certificates
of the Secrets that Ingresses and Gateways name, routes and certificates pushed by the control
plane), its Service (type LoadBalancer: ports 80 and 443 outside, 8080 and 8443 inside), a
ServiceAccount with no permissions (the gateway reads nothing from the API server), and the
IngressClass `meshtool`, marked as the cluster's default: an Ingress naming no class is served
by the gateway, as the converter reads it.
"""

from __future__ import annotations

from typing import Callable

from meshtool.conventions import (ADMIN_PORT, GATEWAY_CLASS, GATEWAY_CONTROLLER, GATEWAY_HTTP_PORT,
                                  GATEWAY_HTTPS_PORT, GATEWAY_SERVICE, HEALTH_PORT)
from meshtool.kube.objects import pod_identity_env

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
GATEWAY_SERVICE_HTTP_PORT, GATEWAY_SERVICE_HTTPS_PORT = 80, 443  # what clients reach


def gateway_manifests(namespace: str, image: str, control_plane: str,
                      meta: Callable[..., dict]) -> list[dict]:
    """`meta(name, component, namespaced=True)` gives the install's metadata (its labels)."""
    selector = {"app.kubernetes.io/name": "meshtool", "app.kubernetes.io/component": "gateway"}
    hardened = {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    container = {
        "name": "gateway", "image": image, "imagePullPolicy": "IfNotPresent",
        "args": ["gateway", "run", "--control-plane", control_plane, "--listen-host", "0.0.0.0",
                 "--http-port", str(GATEWAY_HTTP_PORT), "--https-port", str(GATEWAY_HTTPS_PORT),
                 # redirects to https name the Service's port, not the container's
                 "--https-redirect-port", str(GATEWAY_SERVICE_HTTPS_PORT),
                 "--admin-port", str(ADMIN_PORT), "--health-port", str(HEALTH_PORT)],
        "env": pod_identity_env(),
        "ports": [{"name": "http", "containerPort": GATEWAY_HTTP_PORT, "protocol": "TCP"},
                  {"name": "https", "containerPort": GATEWAY_HTTPS_PORT, "protocol": "TCP"},
                  {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"}],
        # Ready once the first routes are in force: a new or restarted gateway gets no traffic
        # from the Service while it would still answer every request with 404 (no route)
        "readinessProbe": {"httpGet": {"path": "/ready", "port": HEALTH_PORT},
                           "periodSeconds": 2},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "2", "memory": "512Mi"}},
        "securityContext": hardened,
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta(GATEWAY_SERVICE, "gateway"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": {**selector, "app.kubernetes.io/part-of": "meshtool",
                                        "sidecar.meshtool.io/inject": "false"}},
                "spec": {"serviceAccountName": GATEWAY_SERVICE,
                         # its token proves the gateway's identity when it asks the mesh CA
                         # for its certificate (mTLS to the sidecars); the account may do
                         # nothing in the API
                         "automountServiceAccountToken": True,
                         "securityContext": {"runAsNonRoot": True,
                                             "seccompProfile": {"type": "RuntimeDefault"}},
                         "containers": [container]},
            },
        },
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": meta(GATEWAY_SERVICE, "gateway"),
        "spec": {"type": "LoadBalancer", "selector": selector, "ports": [
            {"name": "http", "port": GATEWAY_SERVICE_HTTP_PORT, "targetPort": "http",
             "protocol": "TCP", "appProtocol": "http"},
            {"name": "https", "port": GATEWAY_SERVICE_HTTPS_PORT, "targetPort": "https",
             "protocol": "TCP", "appProtocol": "https"}]},
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": meta(GATEWAY_SERVICE, "gateway")}
    ingress_class = {
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": {**meta(GATEWAY_CLASS, "gateway", namespaced=False),
                     "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "spec": {"controller": GATEWAY_CONTROLLER},
    }
    return [account, deployment, service, ingress_class]
