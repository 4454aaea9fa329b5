"""A proxy's scope: which services (and so which rules) the control plane sends it.

By default a proxy receives the services of its own namespace, plus every service a rule
visible to it names (a rule exports its destination to the namespaces its `exportTo` lists,
every namespace by default). An Istio `Sidecar` (networking.istio.io, stored as authored)
replaces the namespace default with its egress hosts: `namespace/host` patterns, namespace
`*` (any), `.` (the proxy's own) or `~` (none), host `*`, a name, or `*.suffix`. A Sidecar with
a workloadSelector applies to the matching proxies of its namespace, one without to all of
them, one in the root namespace (istio-system) without selector to every namespace that has
none. A service outside the scope is unknown to the proxy: a call to it is treated as external.
Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

SIDECAR_KIND = "Sidecar.networking.istio.io"  # the store's kind
ROOT_NAMESPACE = "istio-system"
CLUSTER_DOMAIN = "svc.cluster.local"

Problem = tuple[tuple, str]  # (field path, message)


@dataclass(frozen=True)
class HostPattern:
    namespace: str  # "*", "." (the proxy's own), "~" (none) or a namespace
    host: str  # "*", "name", "name.ns", FQDN, or "*.suffix"

    def matches(self, proxy_namespace: str, namespace: str, name: str) -> bool:
        ns = proxy_namespace if self.namespace == "." else self.namespace
        if ns == "~" or ns not in ("*", namespace):
            return False
        if self.host == "*":
            return True
        fqdn = f"{name}.{namespace}.{CLUSTER_DOMAIN}"
        if self.host.startswith("*."):
            return fqdn.endswith(self.host[1:])
        return self.host in (name, f"{name}.{namespace}", f"{name}.{namespace}.svc", fqdn)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.host}"


def parse_host(text: Any) -> HostPattern:
    """'ns/host' -> HostPattern; ValueError saying why not."""
    if not isinstance(text, str) or text.count("/") != 1:
        raise ValueError(f"{text!r}: must be namespace/host, e.g. ./* or istio-system/*")
    ns, host = text.split("/")
    if not ns or not host or ("*" in host and host != "*" and not host.startswith("*.")):
        raise ValueError(f"{text!r}: namespace and host must not be empty; a wildcard host is "
                         f"* or *.suffix")
    return HostPattern(ns, host.lower())


@dataclass(frozen=True)
class Sidecar:
    """The scope an Istio Sidecar gives the proxies it selects."""

    namespace: str
    name: str
    selector: tuple[tuple[str, str], ...] | None  # workloadSelector.labels; None: all
    hosts: tuple[HostPattern, ...]

    def selects(self, labels: dict[str, str]) -> bool:
        return self.selector is None or all(labels.get(k) == v for k, v in self.selector)


def parse_sidecar(namespace: str, name: str, spec: Any) -> tuple[Sidecar | None, list[Problem]]:
    """The scope of a Sidecar's spec, and what is wrong with it (nothing used half-read)."""
    problems: list[Problem] = []
    if not isinstance(spec, dict):
        return None, [(("spec",), "must be a mapping")]
    selector = None
    ws = spec.get("workloadSelector")
    if ws is not None:
        labels = ws.get("labels") if isinstance(ws, dict) else None
        if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in labels.items()):
            problems.append((("spec", "workloadSelector", "labels"),
                             "must map label names to values"))
        else:
            selector = tuple(sorted(labels.items()))
    hosts: list[HostPattern] = []
    egress = spec.get("egress")
    if egress is None:
        egress = [{"hosts": ["*/*"]}]  # a Sidecar without egress: Istio's default, everything
    if not isinstance(egress, list):
        problems.append((("spec", "egress"), "must be a list"))
        egress = []
    for i, listener in enumerate(egress):
        items = listener.get("hosts") if isinstance(listener, dict) else None
        if not isinstance(items, list) or not items:
            problems.append((("spec", "egress", i, "hosts"), "a non-empty list is required"))
            continue
        for j, text in enumerate(items):
            try:
                hosts.append(parse_host(text))
            except ValueError as exc:
                problems.append((("spec", "egress", i, "hosts", j), str(exc)))
    if problems:
        return None, problems
    return Sidecar(namespace, name, selector, tuple(dict.fromkeys(hosts))), []


def exported_to(export_to: Any, owner_namespace: str, namespace: str) -> bool:
    """Whether a resource of `owner_namespace` with this `exportTo` is visible in `namespace`
    (no exportTo: everywhere)."""
    if not isinstance(export_to, list) or not export_to:
        return True
    for item in export_to:
        if item == "*" or item == namespace or (item == "." and owner_namespace == namespace):
            return True
    return False


@dataclass(frozen=True)
class Scope:
    """What one proxy receives: services matching `hosts` (in its namespace by default) or
    named by a rule visible to it."""

    namespace: str
    hosts: tuple[HostPattern, ...]
    sidecar: str | None = None  # "ns/name" of the Sidecar that set it; None: the default

    def sees(self, namespace: str, name: str) -> bool:
        return any(p.matches(self.namespace, namespace, name) for p in self.hosts)

    def describe(self) -> dict[str, Any]:
        """The scope as the snapshot carries it (so the proxy and `simulate` can explain)."""
        return {"namespace": self.namespace, "hosts": [str(h) for h in self.hosts],
                "sidecar": self.sidecar}


def scope_for(namespace: str, labels: dict[str, str], sidecars: Iterable[Sidecar]) -> Scope:
    """The scope of a proxy: its namespace's Sidecar selecting it (with a selector first),
    else one without selector, else the root namespace's default, else its namespace."""
    own = [s for s in sidecars if s.namespace == namespace and s.selects(labels)]
    root = [s for s in sidecars if s.namespace == ROOT_NAMESPACE and s.selector is None]
    for candidates in (sorted((s for s in own if s.selector), key=lambda s: s.name),
                       sorted((s for s in own if not s.selector), key=lambda s: s.name),
                       sorted(root, key=lambda s: s.name)):
        if candidates:
            chosen = candidates[0]
            return Scope(namespace, chosen.hosts, f"{chosen.namespace}/{chosen.name}")
    return Scope(namespace, (HostPattern(".", "*"),))


def rule_services(value: Any) -> set[tuple[str, str]]:
    """(namespace, name) of the services a compiled rule (a model value) sends to or governs:
    what it exports to the namespaces it is visible in."""
    out: set[tuple[str, str]] = set()
    dest = getattr(value, "destination", None)
    if dest is not None and hasattr(dest, "key"):
        out.add(dest.key)
    for split in getattr(value, "split", ()) or ():
        if split.service is not None:
            out.add(split.service.key)
    mirror = getattr(value, "mirror", None)
    if mirror is not None and getattr(mirror, "service", None) is not None:
        out.add(mirror.service.key)
    for backend in getattr(value, "backends", ()) or ():  # a gateway route's Services
        out.add(backend.service.key)
    return out
