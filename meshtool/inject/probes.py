"""Send the application's probes through the proxy's health port.

With inbound traffic captured, the kubelet's probes would reach the proxy rather than the
app. Each HTTP, TCP or gRPC probe becomes an HTTP probe of
`/app-health/<container>/readyz|livez|startupz` on the health port (15021, the only proxy
port open on the pod address besides the traffic ports); the proxy runs the
original probe against the app on localhost (it learns them from MESHTOOL_APP_PROBES).
Exec probes run inside the container and are left alone.
"""

from __future__ import annotations

from typing import Any, NamedTuple

PROBES = {"readinessProbe": "readyz", "livenessProbe": "livez", "startupProbe": "startupz"}
ACTIONS = ("httpGet", "tcpSocket", "grpc")


class ProbeRewrite(NamedTuple):  # not a dataclass: cheaper to define at start-up (errors.Finding)
    container_index: int
    container: str
    probe: str  # readinessProbe | livenessProbe | startupProbe
    action: str  # httpGet | tcpSocket | grpc
    path: str  # /app-health/<container>/readyz
    original: dict  # {"httpGet": {...}} with named ports resolved to numbers


def health_path(container: str, probe: str) -> str:
    return f"/app-health/{container}/{PROBES[probe]}"


def rewrites(containers: list) -> list[ProbeRewrite]:
    out = []
    for index, c in enumerate(containers):
        if not isinstance(c, dict):
            continue
        for probe in PROBES:
            spec = c.get(probe)
            if not isinstance(spec, dict):
                continue
            action = next((a for a in ACTIONS if isinstance(spec.get(a), dict)), None)
            if action is None:
                continue
            original = {action: _resolve_port(dict(spec[action]), c)}
            out.append(ProbeRewrite(index, str(c.get("name", "")), probe, action,
                                    health_path(str(c.get("name", "")), probe), original))
    return out


def rewritten_action(rw: ProbeRewrite, health_port: int) -> dict[str, Any]:
    return {"path": rw.path, "port": health_port}


def _resolve_port(action: dict, container: dict) -> dict:
    """A named port ("http") becomes the container's number, so the proxy can dial it."""
    port = action.get("port")
    if isinstance(port, str) and not port.isdigit():
        for p in container.get("ports") or []:
            if isinstance(p, dict) and p.get("name") == port and isinstance(p.get("containerPort"), int):
                action["port"] = p["containerPort"]
                break
    return action
