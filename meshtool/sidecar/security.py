"""The security policies that apply to this workload, compiled from a snapshot: its inbound mTLS
mode (MTLSPolicy, resolved by meshtool.model.peermodes) and its traffic permissions
(AccessPolicy). Pure: no I/O, no mitmproxy.

Which AccessPolicies apply: those whose namespace is the workload's or the mesh's
(meshtool-system, istio-system, kuma-system) and whose destination, if any, names this service
and labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from meshtool.model import types as t
from meshtool.model.peermodes import DEFAULT_MODE, PeerModes, applies, peer_modes  # noqa: F401
from meshtool.security.spiffe import SCHEME, principal_matches


@dataclass(frozen=True)
class Request:
    """What a permission looks at."""

    principal: str | None  # the peer's SPIFFE ID, None over plaintext
    method: str
    path: str
    port: int | None
    header: Callable[[str], str | None]

    @property
    def bare_principal(self) -> str:
        p = self.principal or ""
        return p[len(SCHEME):] if p.startswith(SCHEME) else p

    @property
    def namespace(self) -> str:
        parts = self.bare_principal.split("/")
        return parts[2] if len(parts) == 5 and parts[1] == "ns" else ""


def _any(patterns: tuple[str, ...], value: str) -> bool:
    return any(principal_matches(p, value) for p in patterns)


def _source(src: t.AccessSource, req: Request) -> bool:
    p, ns = req.bare_principal, req.namespace
    return ((not src.principals or (bool(p) and _any(src.principals, p)))
            and not (src.not_principals and _any(src.not_principals, p))
            and (not src.namespaces or (bool(ns) and _any(src.namespaces, ns)))
            and not (src.not_namespaces and _any(src.not_namespaces, ns)))


def _operation(op: t.AccessOperation, req: Request) -> bool:
    path = req.path.split("?", 1)[0]
    return ((not op.methods or req.method in op.methods)
            and req.method not in op.not_methods
            and (not op.paths or _any(op.paths, path))
            and not (op.not_paths and _any(op.not_paths, path))
            and (not op.ports or req.port in op.ports)
            and req.port not in op.not_ports)


def _condition(cond: t.HeaderCondition, req: Request) -> bool:
    value = req.header(cond.header)
    if cond.values and (value is None or not _any(cond.values, value)):
        return False
    return not (cond.not_values and value is not None and _any(cond.not_values, value))


def matches(policy: t.Access, req: Request) -> bool:
    return any((not r.sources or any(_source(s, req) for s in r.sources))
               and (not r.operations or any(_operation(o, req) for o in r.operations))
               and all(_condition(c, req) for c in r.conditions)
               for r in policy.rules)


def _http_only(rule: t.AccessRule) -> bool:
    return bool(rule.conditions) or any(o.methods or o.not_methods or o.paths or o.not_paths
                                        for o in rule.operations)


def matches_tcp(policy: t.Access, principal: str | None, port: int | None) -> bool:
    """A TCP connection has a peer and a port, no method, path or header. As Istio does, a
    rule that needs those never matches it in an ALLOW (or AUDIT) policy, while a DENY
    policy's rule matches on its other fields alone (a DENY stays at least as strict)."""
    req = Request(principal, "", "/", port, lambda _: None)
    for rule in policy.rules:
        if _http_only(rule):
            if policy.action != "DENY":
                continue
            ops = tuple(t.AccessOperation(ports=o.ports, not_ports=o.not_ports)
                        for o in rule.operations)
            rule = t.AccessRule(rule.sources, ops, ())
        if ((not rule.sources or any(_source(s, req) for s in rule.sources))
                and (not rule.operations or any(_operation(o, req) for o in rule.operations))):
            return True
    return False


def needs_identity(policy: t.Access) -> bool:
    return any(s.principals or s.namespaces for r in policy.rules for s in r.sources)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    policy: str | None = None  # what decided a denial: "DENY default/x", "ALLOW default/y"
    audited: tuple[str, ...] = ()  # AUDIT policies that matched


@dataclass(frozen=True)
class AccessTable:
    allow: tuple[t.Access, ...] = ()
    deny: tuple[t.Access, ...] = ()
    audit: tuple[t.Access, ...] = ()

    def decide(self, req: Request) -> Verdict:
        audited = tuple(p.full_name for p in self.audit if matches(p, req))
        for p in self.deny:
            if matches(p, req):
                return Verdict(False, f"DENY {p.full_name}", audited)
        if self.allow and not any(matches(p, req) for p in self.allow):
            names = ", ".join(p.full_name for p in self.allow)
            return Verdict(False, f"ALLOW {names} (no rule matched)", audited)
        return Verdict(True, None, audited)

    def decide_tcp(self, principal: str | None, port: int | None) -> Verdict:
        """The same order as `decide`, for a TCP connection (see matches_tcp)."""
        audited = tuple(p.full_name for p in self.audit if matches_tcp(p, principal, port))
        for p in self.deny:
            if matches_tcp(p, principal, port):
                return Verdict(False, f"DENY {p.full_name}", audited)
        if self.allow and not any(matches_tcp(p, principal, port) for p in self.allow):
            names = ", ".join(p.full_name for p in self.allow)
            return Verdict(False, f"ALLOW {names} (no rule matched)", audited)
        return Verdict(True, None, audited)

    @property
    def identity_based(self) -> bool:
        return any(needs_identity(p) for p in self.allow + self.deny + self.audit)


def access_table(policies: list[t.Access], service: str, namespace: str,
                 labels: Mapping[str, str]) -> AccessTable | None:
    mine = sorted((p for p in policies if applies(p.namespace, p.selector, service, namespace,
                                                  labels)), key=lambda p: p.full_name)
    if not mine:
        return None
    return AccessTable(tuple(p for p in mine if p.action == "ALLOW"),
                       tuple(p for p in mine if p.action == "DENY"),
                       tuple(p for p in mine if p.action == "AUDIT"))
