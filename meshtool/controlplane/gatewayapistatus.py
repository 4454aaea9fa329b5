"""What the control plane writes back to the Gateway API objects meshtool's gateway serves
(Kubernetes mode), as a Gateway API controller does, so that `kubectl get gateway` shows the
gateway's address and PROGRAMMED, and `kubectl describe httproute` why a route is not served.

- a Gateway of class `meshtool`: `status.addresses` (the gateway Service's address, as for an
  Ingress) and the conditions Accepted (its listeners are ones meshtool serves) and Programmed
  (accepted, and the gateway Service has an address);
- an HTTPRoute with Gateways of that class as parents: one `status.parents` entry per such
  parentRef (controllerName meshtool.io/gateway) with Accepted (the parent exists and the route
  compiles) and ResolvedRefs (its backend Services exist); other controllers' entries are kept.

`verdicts(rules, compiled, services)` is pure and so are the status builders; the
KubeStatusReporter writes a verdict when it changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from meshtool.controlplane.ingressstatus import gateway_address, is_hostname
from meshtool.conventions import GATEWAY_CLASS, GATEWAY_CONTROLLER
from meshtool.model.compile import Compiled
from meshtool.model.convert.gateway_api_ingress import GROUP, gateway_parent
from meshtool.model.resource import Resource

GATEWAY = f"Gateway.{GROUP}"
HTTP_ROUTE = f"HTTPRoute.{GROUP}"
PLURALS = {GATEWAY: "gateways", HTTP_ROUTE: "httproutes"}
Key = tuple[str, str, str]
Condition = tuple[str, str, str, str]  # type, status, reason, message


@dataclass(frozen=True)
class Verdict:
    key: Key
    api_version: str
    conditions: tuple[Condition, ...]  # a Gateway's; a route's per parent, in `parents`
    address: str | None = None  # a Gateway's
    parents: tuple[tuple[str, tuple[Condition, ...]], ...] = ()  # (parentRef as JSON, conditions)


def _class(res: Resource | None) -> str | None:
    return (res.spec or {}).get("gatewayClassName") if res is not None else None


def verdicts(rules: dict[Key, Resource], compiled: Compiled,
             services: list[dict]) -> list[Verdict]:
    address = gateway_address(services)
    out = []
    for key, res in sorted(rules.items()):
        if res.kind == GATEWAY and _class(res) == GATEWAY_CLASS:
            out.append(_gateway(key, res, compiled, address))
        elif res.kind == HTTP_ROUTE:
            verdict = _route(key, res, rules, compiled)
            if verdict.parents:
                out.append(verdict)
    return out


def _gateway(key: Key, res: Resource, compiled: Compiled, address: str | None) -> Verdict:
    problems = compiled.invalid.get(key)
    if problems:
        message = "; ".join(problems)
        return Verdict(key, res.api_version, (("Accepted", "False", "Invalid", message),
                                              ("Programmed", "False", "Invalid", message)))
    accepted = ("Accepted", "True", "Accepted", "served by the meshtool gateway")
    if address is None:
        return Verdict(key, res.api_version, (accepted, (
            "Programmed", "False", "AddressNotAssigned",
            "the meshtool-gateway Service has no address yet")))
    return Verdict(key, res.api_version, (accepted, (
        "Programmed", "True", "Programmed", "routes are pushed to the meshtool gateway")), address)


def _route(key: Key, res: Resource, rules: dict[Key, Resource], compiled: Compiled) -> Verdict:
    invalid = compiled.invalid.get(key) or []
    unresolved = compiled.unresolved.get(key) or []
    missing_refs = [r for r in unresolved if "parentRef" not in r]
    resolved = (("ResolvedRefs", "False", "BackendNotFound", "; ".join(missing_refs))
                if missing_refs else ("ResolvedRefs", "True", "ResolvedRefs", "backends found"))
    parents = []
    refs = (res.spec or {}).get("parentRefs")
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, dict) or not gateway_parent(ref):
            continue  # a Service parent: a mesh route, not the gateway's
        namespace = ref.get("namespace") or res.namespace
        gateway = rules.get((GATEWAY, namespace, str(ref.get("name"))))
        if gateway is None:
            accepted = ("Accepted", "False", "NoMatchingParent",
                        f"parentRef Gateway {ref.get('name')!r} not found")
        elif _class(gateway) != GATEWAY_CLASS:
            continue  # another controller's Gateway: its status entry is that controller's
        elif invalid:
            accepted = ("Accepted", "False", "UnsupportedValue", "; ".join(invalid))
        else:
            accepted = ("Accepted", "True", "Accepted", "served by the meshtool gateway")
        parents.append((json.dumps(ref, sort_keys=True), (accepted, resolved)))
    return Verdict(key, res.api_version, (), parents=tuple(parents))


def _conditions(wanted: tuple[Condition, ...], old: list, generation: int, now: str) -> list:
    """Conditions as the API wants them; a condition whose status did not change keeps its
    lastTransitionTime."""
    before = {c.get("type"): c for c in old or [] if isinstance(c, dict)}
    out = []
    for kind, status, reason, message in wanted:
        prior = before.get(kind) or {}
        since = prior.get("lastTransitionTime") if prior.get("status") == status else None
        out.append({"type": kind, "status": status, "reason": reason, "message": message[:32768],
                    "observedGeneration": generation, "lastTransitionTime": since or now})
    return out


def gateway_status(verdict: Verdict, current: dict, generation: int, now: str) -> dict:
    status = {"conditions": _conditions(verdict.conditions, current.get("conditions"),
                                        generation, now)}
    if verdict.address is not None:
        kind = "Hostname" if is_hostname(verdict.address) else "IPAddress"
        status["addresses"] = [{"type": kind, "value": verdict.address}]
    return status


def route_status(verdict: Verdict, current: dict, generation: int, now: str) -> dict:
    """The route's status.parents: ours rebuilt, other controllers' entries as they were."""
    others = [p for p in current.get("parents") or []
              if isinstance(p, dict) and p.get("controllerName") != GATEWAY_CONTROLLER]
    ours_before = {json.dumps(p.get("parentRef"), sort_keys=True): p
                   for p in current.get("parents") or []
                   if isinstance(p, dict) and p.get("controllerName") == GATEWAY_CONTROLLER}
    ours = []
    for ref, conditions in verdict.parents:
        old = (ours_before.get(ref) or {}).get("conditions")
        ours.append({"parentRef": json.loads(ref), "controllerName": GATEWAY_CONTROLLER,
                     "conditions": _conditions(conditions, old, generation, now)})
    return {"parents": (others + ours)[:32]}
