"""config.istio.io/v1alpha2 RouteRule, EgressRule, DestinationPolicy (Istio 0.x).

The native kinds keep these shapes, so conversion is mostly a change of apiVersion. What
Istio 0.x had and meshtool has not (L4 faults, routes to other services, the egress
proxy, ...) is a problem naming the field; a misspelt field is left in place for the
native schema to report.
"""

from __future__ import annotations

import copy
from typing import Any

from meshtool.model.convert.base import (Context, Conversion, Converted, convert_metadata,
                                         kube_service, native_manifest)
from meshtool.model.kinds import DESTINATION_POLICY, EGRESS_RULE, ROUTE_RULE

API_VERSION = "config.istio.io/v1alpha2"
KINDS = (ROUTE_RULE, EGRESS_RULE, DESTINATION_POLICY)

# Istio 0.x fields with no native equivalent, per kind: spec path -> why
_UNSUPPORTED = {
    ROUTE_RULE: {("l4Fault",): "L4 faults (terminate, throttle)"},
    EGRESS_RULE: {("useEgressProxy",): "egress goes out from each sidecar"},
    DESTINATION_POLICY: {("custom",): "custom policies"},
}
_SERVICE_KEYS = ("destination", "mirror", "source")


def convert(doc: dict, context: Context) -> Conversion:
    out = Conversion()
    kind = doc.get("kind")
    metadata = convert_metadata(doc, out)
    spec = copy.deepcopy(doc.get("spec"))
    if isinstance(spec, dict):
        for path, why in _UNSUPPORTED.get(kind, {}).items():
            if path[0] in spec:
                out.unsupported(("spec",) + path, why)
        if kind != EGRESS_RULE:  # an EgressRule's destination.service is a host, kept as is
            _services(spec, out)
        if kind == ROUTE_RULE:
            _routes(spec, out)
            _match_source(spec)
        if kind == EGRESS_RULE:
            _protocols(spec)
        if kind == DESTINATION_POLICY:
            _load_balancing(spec)
    manifest = native_manifest(kind, metadata, spec)
    origin = {(): (), ("spec",): ("spec",), ("metadata",): ("metadata",)}
    out.converted.append(Converted(manifest, origin))
    return out


def _services(spec: dict, out: Conversion) -> None:
    """IstioService {name, namespace, domain, service, labels}: `service` (an FQDN) becomes
    name and namespace when it is a cluster service."""
    match = spec.get("match")
    places = [(("spec", key), spec.get(key)) for key in _SERVICE_KEYS]
    if isinstance(match, dict):
        places.append((("spec", "match", "source"), match.get("source")))
    for path, ref in places:
        if not isinstance(ref, dict) or "service" not in ref:
            continue
        parsed = kube_service(ref.get("service"))
        if parsed is None or "name" in ref:
            out.unsupported(path + ("service",), "give the service's name (and namespace)")
            continue
        ref.pop("service")
        ref["name"] = parsed[0]
        if parsed[1] and "namespace" not in ref:
            ref["namespace"] = parsed[1]
    dest = spec.get("destination")
    if spec.get("route") is not None and isinstance(dest, dict) and "labels" in dest:
        out.unsupported(("spec", "destination", "labels"), "put labels on each route")


def _routes(spec: dict, out: Conversion) -> None:
    """route[].destination may only repeat the rule's own destination."""
    routes = spec.get("route")
    if not isinstance(routes, list):
        return
    dest = spec.get("destination") if isinstance(spec.get("destination"), dict) else {}
    for i, route in enumerate(routes):
        if not isinstance(route, dict) or "destination" not in route:
            continue
        target = route.get("destination")
        if isinstance(target, dict) and target.get("name") in (None, dest.get("name")) and \
                set(target) <= {"name", "namespace"}:
            route.pop("destination")
        else:
            out.unsupported(("spec", "route", i, "destination"),
                            "a RouteRule routes only among its destination's instances")


def _match_source(spec: dict) -> None:
    """Istio 0.x also accepted match.source without a name when labels were given; the
    native form wants the name, which the `app` label carries."""
    source = spec.get("match", {}).get("source") if isinstance(spec.get("match"), dict) else None
    if isinstance(source, dict) and "name" not in source:
        app = (source.get("labels") or {}).get("app") if isinstance(source.get("labels"),
                                                                     dict) else None
        if isinstance(app, str):
            source["name"] = app


def _protocols(spec: dict) -> None:
    ports = spec.get("ports")
    for entry in ports if isinstance(ports, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("protocol"), str):
            entry["protocol"] = entry["protocol"].lower()


def _load_balancing(spec: dict) -> None:
    lb: Any = spec.get("loadBalancing")
    if isinstance(lb, str):  # Istio accepted the bare enum as well
        spec["loadBalancing"] = {"name": lb}
