"""The containers and volume that injection adds, as plain data in manifest key order."""

from __future__ import annotations

import json

from meshtool.inject.config import (DATA_MOUNT_PATH, DATA_VOLUME, INIT_CONTAINER, PROXY_CONTAINER,
                                    InjectConfig)
from meshtool.inject.iptables import Redirect
from meshtool.inject.probes import ProbeRewrite
from meshtool.inject.traffic import init_args


def init_container(config: InjectConfig, redirect: Redirect) -> dict:
    """Runs `meshtool proxy init` as root with NET_ADMIN and NET_RAW, and nothing else."""
    return {
        "name": INIT_CONTAINER,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["meshtool"],
        "args": init_args(redirect),
        "resources": config.init_resources,
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]},
        },
    }


def _field_env(name: str, path: str) -> dict:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def proxy_container(config: InjectConfig, labels: dict, app_ports: list[int],
                    probes: list[ProbeRewrite]) -> dict:
    args = ["proxy", "run", "--mode", "transparent", "--inbound-port", str(config.inbound_port),
            "--outbound-port", str(config.outbound_port), "--admin-port", str(config.admin_port),
            "--health-port", str(config.health_port)]
    for port in app_ports:
        args += ["--app-port", str(port)]
    env = [
        _field_env("POD_NAME", "metadata.name"),
        _field_env("POD_NAMESPACE", "metadata.namespace"),
        _field_env("INSTANCE_IP", "status.podIP"),
        _field_env("SERVICE_ACCOUNT", "spec.serviceAccountName"),
    ]
    for name, label in (("MESHTOOL_SERVICE", "app"), ("MESHTOOL_VERSION", "version")):
        if isinstance(labels.get(label), (str, int, float)) and not isinstance(labels.get(label), bool):
            env.append({"name": name, "value": str(labels[label])})
    env.append({"name": "MESHTOOL_CONTROL_PLANE", "value": config.control_plane})
    if config.cluster:
        env.append({"name": "MESHTOOL_CLUSTER", "value": config.cluster})
    if probes:
        env.append({"name": "MESHTOOL_APP_PROBES",
                    "value": json.dumps({p.path: p.original for p in probes}, separators=(",", ":"))})
    return {
        "name": PROXY_CONTAINER,
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["meshtool"],
        "args": args,
        "env": env,
        "ports": [{"name": "meshtool-health", "containerPort": config.health_port,
                   "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": config.health_port},
            "initialDelaySeconds": 1,
            "periodSeconds": 2,
            "failureThreshold": 30,
        },
        "resources": config.resources,
        "securityContext": {
            "runAsUser": config.proxy_uid,
            "runAsGroup": config.proxy_uid,
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": DATA_VOLUME, "mountPath": DATA_MOUNT_PATH}],
    }


def data_volume() -> dict:
    """Certificates and config of the proxy (its root filesystem is read-only)."""
    return {"name": DATA_VOLUME, "emptyDir": {"medium": "Memory"}}


def app_ports(containers: list) -> list[int]:
    """The first containerPort of each application container."""
    out = []
    for c in containers:
        ports = c.get("ports") if isinstance(c, dict) else None
        if isinstance(ports, list) and ports and isinstance(ports[0], dict):
            port = ports[0].get("containerPort")
            if isinstance(port, int) and port not in out:
                out.append(port)
    return out
