"""What the control plane writes back to the Ingresses it serves (Kubernetes mode).

- an Ingress the gateway serves gets the gateway's address in `status.loadBalancer.ingress`
  (its Service's load-balancer address when it has one, else its cluster IP), as `kubectl get
  ingress` shows under ADDRESS;
- an Ingress that cannot be served (a backend Service missing, a path type meshtool refuses)
  gets a Warning Event with the reason, once per distinct reason; its status has no conditions
  in networking.k8s.io/v1, so the Event is where `kubectl describe ingress` shows it.

`verdicts(rules, compiled, services)` is pure: it returns what to write; the KubeStatusReporter
writes it on its worker thread and remembers what it wrote, so a verdict is written once.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshtool.conventions import GATEWAY_SERVICE
from meshtool.model.compile import Compiled
from meshtool.model.convert.ingress import is_ours
from meshtool.model.resource import Resource

INGRESS = "Ingress.networking.k8s.io"
Key = tuple[str, str, str]


@dataclass(frozen=True)
class Verdict:
    key: Key
    api_version: str
    address: str | None  # served: the gateway's address (None: no gateway Service yet)
    problem: str | None  # not served: why


def gateway_address(services: list[dict]) -> str | None:
    for svc in services:
        if svc.get("name") == GATEWAY_SERVICE and svc.get("addresses"):
            return str(svc["addresses"][0])
    return None


def verdicts(rules: dict[Key, Resource], compiled: Compiled,
             services: list[dict]) -> list[Verdict]:
    address = gateway_address(services)
    out = []
    for key, res in sorted(rules.items()):
        if res.kind != INGRESS or not is_ours(res.to_manifest()):
            continue
        reasons = compiled.invalid.get(key) or compiled.unresolved.get(key)
        out.append(Verdict(key, res.api_version, None if reasons else address,
                           "; ".join(reasons) if reasons else None))
    return out


def is_hostname(address: str) -> bool:
    """A load balancer's DNS name rather than an IP address (v4 or v6)."""
    return any(c.isalpha() for c in address) and ":" not in address


def status_patch(address: str) -> dict:
    field = "hostname" if is_hostname(address) else "ip"
    return {"status": {"loadBalancer": {"ingress": [{field: address}]}}}
