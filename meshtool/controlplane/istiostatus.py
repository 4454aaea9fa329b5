"""Istio's gateway resources meshtool's gateway cannot serve (Kubernetes mode): a Gateway
(networking.istio.io) refused, or a VirtualService bound to one (`gateways:` other than `mesh`)
left out, gets a Warning Event with the reason, as an Ingress does (meshtool.controlplane.
ingressstatus): Istio's objects have no status meshtool could write a condition into.

`problems(rules, compiled)` is pure: (key, apiVersion, reason or None) for each such resource.
"""

from __future__ import annotations

from meshtool.model.compile import Compiled
from meshtool.model.convert.istio_gateway import bound_gateways
from meshtool.model.resource import Resource

GROUP = "networking.istio.io"
PLURALS = {f"Gateway.{GROUP}": "gateways", f"VirtualService.{GROUP}": "virtualservices"}
Key = tuple[str, str, str]


def problems(rules: dict[Key, Resource], compiled: Compiled) -> list[tuple[Key, str, str | None]]:
    out = []
    for key, res in sorted(rules.items()):
        if res.kind not in PLURALS:
            continue
        if res.kind.startswith("VirtualService.") and not bound_gateways(res.spec or {}):
            continue  # a mesh route: not the gateway's to report
        reasons = compiled.invalid.get(key) or compiled.unresolved.get(key)
        out.append((key, res.api_version, "; ".join(reasons) if reasons else None))
    return out
