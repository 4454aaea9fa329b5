"""Stored resources of every API -> the native rules the snapshot carries, with references
across resources resolved (a VirtualService's subsets from any stored DestinationRule, whenever
it was stored), and a reason for each resource that cannot be compiled yet.

A resource whose references do not resolve is *unresolved*: it is left out (the route waits; it
goes live as soon as the missing resource is stored) and says why. One that cannot be compiled
at all (a stored document no converter accepts any more) is *invalid* and is left out too. Both
are reported, never dropped silently. Pure: used by the control plane, `get` and analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from meshtool.model import convert, native
from meshtool.model.convert.gateway_api import GROUP as GATEWAY_GROUP
from meshtool.model.kinds import GATEWAY_ROUTE, bare_kind
from meshtool.model.paths import format_path
from meshtool.model.resource import Resource

Key = tuple[str, str, str]

RESOLVED = "Resolved"  # the condition type `get -o yaml` shows


@dataclass
class Compiled:
    rules: list[Resource] = field(default_factory=list)  # native, ready for a snapshot
    unresolved: dict[Key, list[str]] = field(default_factory=dict)
    invalid: dict[Key, list[str]] = field(default_factory=dict)
    sources: dict[Key, Key] = field(default_factory=dict)  # compiled native key -> stored key

    def condition(self, key: Key) -> dict:
        """A Kubernetes-style condition for a stored resource of another API."""
        for reasons, reason in ((self.unresolved.get(key), "UnresolvedReference"),
                                (self.invalid.get(key), "Invalid")):
            if reasons:
                return {"type": RESOLVED, "status": "False", "reason": reason,
                        "message": "; ".join(reasons)}
        return {"type": RESOLVED, "status": "True", "reason": "Compiled",
                "message": "compiled into " + ", ".join(
                    f"{k[0]}/{k[2]}" for k, src in self.sources.items() if src == key)}

    def report(self) -> dict:
        """What the debug endpoint shows: each left-out resource and why."""
        def rows(found: dict[Key, list[str]]) -> list[dict]:
            return [{"kind": k[0], "namespace": k[1], "name": k[2], "reasons": v}
                    for k, v in sorted(found.items())]
        return {"unresolved": rows(self.unresolved), "invalid": rows(self.invalid)}


def compile_resources(resources: Iterable[Resource],
                      services: set[tuple[str, str]] | None = None) -> Compiled:
    """Native rules pass through; those of other APIs are converted against all the others.
    `services` (namespace, name), when known (the control plane's registry): a Gateway API
    route whose parent or backend Service is not among them is unresolved."""
    resources = list(resources)
    out = Compiled()
    manifests = {r.key: r.to_manifest() for r in resources if not r.is_native}
    context = convert.Context(list(manifests.values()))
    for res in resources:
        if res.is_native:
            out.rules.append(res)
            continue
        converter = convert.converter_for(res.api_version, bare_kind(res.kind))
        if converter is None:
            out.invalid[res.key] = [f"meshtool does not compile {res.api_version} "
                                    f"{bare_kind(res.kind)}"]
            continue
        conversion = converter(manifests[res.key], context)
        if conversion.problems:
            out.invalid[res.key] = [_text(p, m) for p, m in conversion.problems]
            continue
        if conversion.unresolved:
            out.unresolved[res.key] = [_text(p, m) for p, m in conversion.unresolved]
            continue
        compiled, problems = [], []
        for item in conversion.converted:
            rule = Resource.from_manifest(item.manifest, namespace=res.namespace)
            problems += [_text(item.foreign_path(p), m) for p, m in
                         native.parse(rule.kind, rule.namespace, rule.name, rule.spec).problems]
            compiled.append(rule)
        if problems:
            out.invalid[res.key] = problems
            continue
        missing = _missing_services(res, compiled, services)
        if missing:
            out.unresolved[res.key] = missing
            continue
        for rule in compiled:
            out.rules.append(rule)
            out.sources[rule.key] = res.key
    return out


def _missing_services(res: Resource, compiled: list[Resource],
                      services: set[tuple[str, str]] | None) -> list[str]:
    """The Services a Gateway API route's parentRefs and backendRefs, or a gateway route's
    backends (any API), name that do not exist."""
    if services is None:
        return []
    missing: dict[tuple[str, str], str] = {}
    for rule in compiled:
        if rule.kind == GATEWAY_ROUTE:
            for b in rule.spec.get("backends") or []:
                ref = b.get("service") or {}
                key = (ref.get("namespace") or rule.namespace, ref.get("name"))
                if key not in services:
                    missing.setdefault(key, f"backend Service {key[1]!r} (namespace {key[0]!r}) "
                                            f"not found")
            continue
        if not res.kind.endswith("." + GATEWAY_GROUP):
            continue
        refs = [("parentRef", rule.spec.get("destination") or {})]
        refs += [("backendRef", r["destination"]) for r in rule.spec.get("route") or []
                 if isinstance(r, dict) and "destination" in r]
        refs += [("mirror backendRef", rule.spec["mirror"])] if rule.spec.get("mirror") else []
        for what, ref in refs:
            key = (ref.get("namespace") or rule.namespace, ref.get("name"))
            if key not in services:
                missing.setdefault(key, f"{what} Service {key[1]!r} (namespace {key[0]!r}) "
                                        f"not found")
    return list(missing.values())


def _text(path, message: str) -> str:
    where = format_path(path)
    return f"{where}: {message}" if where else message
