"""Which mTLS mode a workload's inbound sidecar enforces, from the MTLSPolicies (Istio
PeerAuthentication, Kuma Mesh mtls) of a mesh: one resolution for the sidecar, the control
plane's views and `meshtool analyze`. Pure: standard library only.

Which policies apply: those whose namespace is the workload's or the mesh's (meshtool-system,
istio-system, kuma-system) and whose destination, if any, names this service and labels. The most
specific one that sets a mode wins (workload, then namespace, then mesh, as Istio resolves
PeerAuthentication); a port-level mode of the workload's policy beats them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from meshtool.model import types as t
from meshtool.model.kinds import MESH_NAMESPACES

DEFAULT_MODE = "PERMISSIVE"


def applies(policy_ns: str, selector: t.WorkloadSelector | None, service: str, namespace: str,
            labels: Mapping[str, str]) -> bool:
    if policy_ns != namespace and policy_ns not in MESH_NAMESPACES:
        return False
    return selector is None or selector.matches(service, {"app": service, **labels})


def _rank(policy_ns: str, selector) -> int:
    return 2 if selector is not None else (1 if policy_ns not in MESH_NAMESPACES else 0)


@dataclass(frozen=True)
class PeerModes:
    default: str = DEFAULT_MODE
    ports: Mapping[int, str] = field(default_factory=dict)
    policy: str | None = None  # the policy that set the mode

    def mode(self, port: int | None = None) -> str:
        return self.ports.get(port, self.default) if port is not None else self.default


def peer_modes(policies: list[t.PeerAuth], service: str, namespace: str,
               labels: Mapping[str, str]) -> PeerModes | None:
    mine = sorted((p for p in policies if applies(p.namespace, p.selector, service, namespace,
                                                  labels)),
                  key=lambda p: (_rank(p.namespace, p.selector), p.full_name), reverse=True)
    if not mine:
        return None
    chosen = next((p for p in mine if p.mode is not None), None)
    ports = dict(mine[0].ports) if mine[0].selector is not None else {}
    return PeerModes(chosen.mode if chosen else DEFAULT_MODE, ports,
                     chosen.full_name if chosen else mine[0].full_name)
