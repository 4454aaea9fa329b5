"""The sidecar's configuration snapshot: parse, validate and compile it into lookup tables.

`compile_snapshot(doc, identity)` either returns a complete `Snapshot` or raises ValueError with
every problem found (the NACK text); nothing is half-built. The format is in docs/snapshot.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.discovery import snapshot as document
from meshtool.discovery.protocol import Identity
from meshtool.discovery.snapshot import Endpoint
from meshtool.model import native
from meshtool.model import types as t
from meshtool.model.hosts import specificity
from meshtool.model.paths import format_path
from meshtool.sidecar import security
from meshtool.sidecar.balancer import EndpointPicker, LocalityPicker
from meshtool.sidecar.gatewayroutes import GatewayTable
from meshtool.sidecar.rules import CompiledRule, Problems, compile_route


@dataclass(eq=False)
class Service:
    name: str
    namespace: str
    endpoints: list[Endpoint]
    ports: list[int]
    protocols: dict[int, str] = field(default_factory=dict)  # service port -> protocol

    def upstream_http2(self, port: int) -> bool:
        """Does the service port a caller addressed speak HTTP/2 (grpc, http2)?"""
        return document.protocol_for(self.protocols, self.ports, port) in document.HTTP2_PROTOCOLS


@dataclass(eq=False)
class Subset:
    """The endpoints of a service carrying some labels, with the policy that applies to them."""

    service: Service
    labels: dict[str, str]
    picker: EndpointPicker | LocalityPicker
    breaker: t.CircuitBreaker | None
    breaker_key: str  # policy identity, so that limits are shared by the subsets one policy covers
    tls: str | None = None  # the policy's tls mode: ISTIO_MUTUAL, DISABLE, None (auto mTLS)

    @property
    def version(self) -> str:
        return self.labels.get("version", "")


@dataclass(eq=False)
class EgressAllow:
    name: str  # "default/msgd"
    pattern: str
    ports: dict[int, str] | None  # port -> protocol; None: any port over http


@dataclass(eq=False)
class Snapshot:
    version: str
    nonce: str
    doc: dict[str, Any]
    services: dict[tuple[str, str], Service]
    by_host: dict[str, Service]  # names, "name.ns", ..., virtual addresses, endpoint "addr:port"
    rules: dict[tuple[str, str], list[CompiledRule]]  # by service key, best first
    egress: list[EgressAllow]
    default_subsets: dict[tuple[str, str], Subset]
    addresses: list[tuple[str, Service]] = field(default_factory=list)  # virtual (cluster) IPs
    peer_modes: Any = None  # security.PeerModes: the inbound mTLS mode (None: PERMISSIVE)
    access: Any = None  # security.AccessTable: traffic permissions (None: no policy applies)
    gateway: GatewayTable | None = None  # routes entering the mesh (used by gateways only)
    # endpoint key -> (how to probe it, the endpoint): the active health checks policies ask for
    health_checks: dict[str, tuple[t.HealthCheck, Endpoint]] = field(default_factory=dict)


def _labels_match(want: dict[str, str], have: dict[str, str]) -> bool:
    return all(have.get(k) == v for k, v in want.items())


def _only_health_check(policy: t.Policy) -> bool:
    """A policy that only asks for health checks (a Kuma HealthCheck) leaves load balancing
    and circuit breaking to the others."""
    return (policy.health_check is not None and policy.breaker is None and not policy.locality
            and policy.lb == "ROUND_ROBIN")


class _Builder:
    def __init__(self, identity: Identity, active: dict[str, int]):
        self.identity = identity
        self.active = active
        self.problems = Problems()
        self.services: dict[tuple[str, str], Service] = {}
        self.policies: dict[tuple[str, str], list[t.Policy]] = {}
        self.addresses: list[tuple[str, Service]] = []  # virtual (cluster) IPs
        self._caller: dict[str, str] | None = None  # caller_locality(), once services are read

    def service(self, i: int, doc: Any) -> None:
        entry = document.parse_service(f"services[{i}]", doc, self.problems.add)
        if entry is None:
            return
        svc = Service(entry.name, entry.namespace, list(entry.endpoints), list(entry.ports),
                      dict(entry.protocols))
        self.services[(entry.namespace, entry.name)] = svc
        self.addresses.extend((addr, svc) for addr in entry.addresses)

    def policy(self, policy: t.Policy) -> None:
        if policy.source is None or self.source_matches(policy.source):
            self.policies.setdefault(policy.destination.key, []).append(policy)

    def health_checks(self) -> dict[str, tuple[t.HealthCheck, Endpoint]]:
        """Every endpoint a policy with a healthCheck covers (the most specific policy's)."""
        checks: dict[str, tuple[t.HealthCheck, Endpoint]] = {}
        for key, policies in self.policies.items():
            service = self.services.get(key)
            if service is None:
                continue
            ranked = sorted((p for p in policies if p.health_check),
                            key=lambda p: (p.source is not None, len(p.labels)), reverse=True)
            for policy in ranked:
                for ep in service.endpoints:
                    if _labels_match(policy.labels, ep.labels):
                        checks.setdefault(ep.key, (policy.health_check, ep))
        return checks

    def caller_locality(self) -> dict[str, str]:
        """The labels locality-aware balancing compares with the endpoints': the identity's,
        with the topology labels it lacks taken from its own endpoint (found by the pod's IP)."""
        if self._caller is None:
            labels = self.identity.labels
            missing = [k for k in t.DEFAULT_FAILOVER_PRIORITY if k not in labels]
            self._caller = labels
            if missing and self.identity.address:
                own = next((ep for svc in self.services.values() for ep in svc.endpoints
                            if ep.address == self.identity.address), None)
                if own is not None:
                    self._caller = {**labels, **{k: own.labels[k] for k in missing
                                                 if k in own.labels}}
        return self._caller

    def source_matches(self, source: t.SourceMatch | None) -> bool:
        if source is None:
            return True
        if source.name != self.identity.service:
            return False
        return _labels_match(source.labels, self.identity.labels)

    def subset(self, service: Service | None, ns: str, name: str, labels: dict[str, str]) -> Subset:
        if service is None:
            service = Service(name, ns, [], [])
        eps = [e for e in service.endpoints if _labels_match(labels, e.labels)]
        # The most specific policy wins: one for this source over one for all, more labels first.
        ranked = sorted(self.policies.get((ns, name), []),
                        key=lambda p: (p.source is not None, len(p.labels)), reverse=True)
        chosen = next((p for p in ranked if _labels_match(p.labels, labels)
                       and not _only_health_check(p)), None)
        lb = chosen.lb if chosen else "ROUND_ROBIN"
        picker = (LocalityPicker(eps, self.caller_locality(), chosen.locality, lb, self.active)
                  if chosen and chosen.locality else EndpointPicker(eps, lb, self.active))
        return Subset(service, dict(labels), picker,
                      chosen.breaker if chosen else None,
                      chosen.full_name if chosen else f"{ns}/{name}",
                      chosen.tls if chosen else None)


def compile_snapshot(doc: Any, identity: Identity | None = None,
                     active: dict[str, int] | None = None,
                     previous: Snapshot | None = None) -> Snapshot:
    """Validate and compile a snapshot document; ValueError lists every problem.

    `previous` (the snapshot in force, compiled for the same identity and `active`) lets a push
    that changed only rules reuse its compiled services and host table, and a push that changed
    nothing but version/nonce reuse everything: with every proxy an endpoint, the services are
    most of the document and most of the compile time.
    """
    identity = identity or Identity()
    if not isinstance(doc, dict):
        raise ValueError("snapshot: must be a mapping with version, services and rules")
    b = _Builder(identity, active if active is not None else {})
    version = doc.get("version")
    if not isinstance(version, (str, int)) or version == "":
        b.problems.add("version", "a non-empty string is required")
    unknown = document.unknown_fields(doc)
    if unknown:
        b.problems.add(", ".join(unknown), "unknown top-level field")
    same_services = (previous is not None and "services" in doc
                     and doc["services"] == previous.doc.get("services"))
    if same_services and not b.problems and doc.get("rules") == previous.doc.get("rules"):
        return replace(previous, version=str(version), nonce=str(doc.get("nonce") or ""), doc=doc)
    if same_services:  # compiled without problems before: the same services, the same tables
        b.services = previous.services
        b.addresses = list(previous.addresses)
    else:
        for i, svc in enumerate(_list(b.problems, "services", doc.get("services"))):
            b.service(i, svc)
    manifests = _list(b.problems, "rules", doc.get("rules"))
    routes: list[t.Route] = []
    egress: list[t.Egress] = []
    peer_auths: list[t.PeerAuth] = []
    accesses: list[t.Access] = []
    gateway_routes: list[t.GatewayRoute] = []
    for i, m in enumerate(manifests):
        if not isinstance(m, dict) or not isinstance(m.get("spec"), dict):
            b.problems.add(f"rules[{i}]", "a manifest with kind, metadata and spec is required")
            continue
        meta = m.get("metadata") or {}
        ns = meta.get("namespace") or DEFAULT_NAMESPACE
        where = f"rules[{i}] {m.get('kind')}/{ns}/{meta.get('name')}"
        parsed = native.parse(m.get("kind"), ns, str(meta.get("name", "")), m["spec"])
        for path, message in parsed.problems:
            b.problems.add(where, f"{format_path(path)}: {message}")
        if isinstance(parsed.value, t.Policy):
            b.policy(parsed.value)
        elif isinstance(parsed.value, t.Route):
            routes.append(parsed.value)
        elif isinstance(parsed.value, t.Egress):
            egress.append(parsed.value)
        elif isinstance(parsed.value, t.PeerAuth):
            peer_auths.append(parsed.value)
        elif isinstance(parsed.value, t.Access):
            accesses.append(parsed.value)
        elif isinstance(parsed.value, t.GatewayRoute):
            gateway_routes.append(parsed.value)
    rules: dict[tuple[str, str], list[CompiledRule]] = {}
    for route in routes:
        if b.source_matches(route.source):
            rule = compile_route(route, lambda ref, labels: b.subset(
                b.services.get(ref.key), ref.namespace, ref.name, labels))
            rules.setdefault(rule.destination, []).append(rule)
    for lst in rules.values():
        lst.sort(key=lambda r: (-r.precedence, r.name))
    if b.problems:
        raise ValueError(str(b.problems))
    me = (identity.service, identity.namespace, identity.labels)
    return Snapshot(
        peer_modes=security.peer_modes(peer_auths, *me) if peer_auths else None,
        access=security.access_table(accesses, *me) if accesses else None,
        version=str(version), nonce=str(doc.get("nonce") or ""), doc=doc, services=b.services,
        by_host=previous.by_host if same_services else _host_table(b.services, b.addresses,
                                                                    identity.namespace),
        rules=rules, addresses=b.addresses, health_checks=b.health_checks(),
        gateway=GatewayTable(gateway_routes) if gateway_routes else None,
        egress=sorted((EgressAllow(e.full_name, e.pattern, e.port_protocols) for e in egress),
                      key=lambda e: specificity(e.pattern), reverse=True),
        default_subsets={k: b.subset(s, k[0], k[1], {}) for k, s in b.services.items()})


def _list(problems: Problems, where: str, value: Any) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(where, "must be a list")
        return []
    return value


def _host_table(services: dict[tuple[str, str], Service], addresses: list[tuple[str, Service]],
                own_namespace: str = DEFAULT_NAMESPACE) -> dict[str, Service]:
    """Host names (and addresses) -> services. A bare name is the service of the proxy's own
    namespace, as Kubernetes DNS resolves it, else of `default`, else of the first namespace."""
    table: dict[str, Service] = {}
    # Endpoint and virtual addresses first, so that a service name wins over them.
    for svc in services.values():
        for ep in svc.endpoints:
            table.setdefault(ep.key, svc)
    for addr, svc in addresses:
        table[addr] = svc
    for (ns, name), svc in sorted(services.items(), key=lambda kv: (
            kv[0][0] != own_namespace, kv[0][0] != DEFAULT_NAMESPACE)):
        for host in (f"{name}.{ns}.svc.cluster.local", f"{name}.{ns}.svc", f"{name}.{ns}"):
            table[host] = svc
        table.setdefault(name, svc)
    return table
