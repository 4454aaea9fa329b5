"""networking.istio.io Gateway, and VirtualServices bound to one (`gateways:`) -> GatewayRoutes.

- A Gateway is checked (servers with port protocol HTTP or HTTPS, hosts; HTTPS needs
  tls.mode SIMPLE and a credentialName) and compiles into nothing itself; its `selector` is not
  read: every meshtool gateway serves it. An HTTP server with `tls.httpsRedirect: true` makes
  the routes for its hosts redirect to https.
- A VirtualService naming a Gateway in `gateways` becomes one GatewayRoute per match of each
  HTTP route: its hosts (`*`: any host), uri exact / prefix (by whole segments, as every
  gateway route) / regex, route destinations with weights (a Service of the mesh, no subset:
  the Service's own rules pick subsets behind the gateway), `rewrite.uri` under a prefix match.
  `mesh` among the gateways also makes the usual mesh RouteRules. A Gateway that is not in the
  input (or the store) leaves the VirtualService unresolved.
"""

from __future__ import annotations

from typing import Any

from meshtool.model.convert.base import (Context, Conversion, FieldPath, convert_metadata, listed,
                                         emit_gateway_routes, find_object, kube_service,
                                         object_namespace, service_ref)
from meshtool.model.kinds import GATEWAY_ROUTE

API_VERSIONS = ("networking.istio.io/v1alpha3", "networking.istio.io/v1beta1",
                "networking.istio.io/v1")
_MATCH_KINDS = ("exact", "prefix", "regex")


def convert_gateway(doc: dict, context: Context) -> Conversion:
    out = Conversion()
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        out.problem(("spec",), "must be a mapping")
        return out
    for key in spec:
        if key not in ("selector", "servers"):
            out.unsupported(("spec", key))
    servers = spec.get("servers")
    if not isinstance(servers, list) or not servers:
        out.problem(("spec", "servers"), "needs at least one server")
        return out
    for i, server in enumerate(servers):
        at: FieldPath = ("spec", "servers", i)
        if not isinstance(server, dict):
            out.problem(at, "must be a mapping with port and hosts")
            continue
        protocol = (server.get("port") or {}).get("protocol") if isinstance(
            server.get("port"), dict) else None
        if protocol not in ("HTTP", "HTTPS"):
            out.problem(at + ("port", "protocol"), f"protocol {protocol!r} is not supported: "
                                                   f"HTTP or HTTPS")
        hosts = server.get("hosts")
        if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) for h in hosts):
            out.problem(at + ("hosts",), "needs a list of hosts")
        tls = server.get("tls") if isinstance(server.get("tls"), dict) else {}
        if protocol == "HTTPS" and (tls.get("mode") != "SIMPLE"
                                    or not isinstance(tls.get("credentialName"), str)):
            out.problem(at + ("tls",), "an HTTPS server needs mode SIMPLE and a credentialName "
                                       "(the gateway terminates TLS)")
    convert_metadata(doc, out)
    return out


def bound_gateways(spec: dict) -> list[str]:
    """The Gateways a VirtualService names, `mesh` left out."""
    value = spec.get("gateways")
    return [g for g in value if isinstance(g, str) and g != "mesh"] if isinstance(value,
                                                                                    list) else []


def gateway_routes(doc: dict, spec: dict, context: Context, out: Conversion) -> None:
    namespace = object_namespace(doc)
    redirect_hosts: list[str] = []
    for i, name in enumerate(bound_gateways(spec)):
        ns, _, short = name.rpartition("/")
        gw = find_object(context, API_VERSIONS, "Gateway", short, ns or namespace)
        if gw is None:
            out.unresolved_reference(("spec", "gateways", i), f"Gateway {name!r} not found")
            continue
        for server in listed((gw.get("spec") or {}).get("servers")):
            if isinstance(server, dict) and (server.get("tls") or {}).get("httpsRedirect") is True:
                redirect_hosts += [h.rpartition("/")[2] for h in listed(server.get("hosts"))
                                   if isinstance(h, str)]
    hosts = [h for h in listed(spec.get("hosts")) if isinstance(h, str)]
    metadata = convert_metadata(doc, Conversion())
    produced: list[tuple[dict, FieldPath]] = []
    # The mesh half of the conversion reports malformed fields; this half skips them.
    for i, route in enumerate(listed(spec.get("http"))):
        base: FieldPath = ("spec", "http", i)
        if not isinstance(route, dict):
            continue
        matches = route.get("match") or [{}]
        for j, match in enumerate(matches if isinstance(matches, list) else [{}]):
            rspec = _route(route, match, base, base + ("match", j), namespace, out)
            if rspec is None:
                continue
            if hosts and "*" not in hosts:
                rspec["hosts"] = sorted(set(hosts))
            if any(h == "*" or h in hosts for h in redirect_hosts):
                rspec["httpsRedirect"] = True
            produced.append((rspec, base))
    emit_gateway_routes(out, doc, metadata, produced, GATEWAY_ROUTE)


def _route(route: dict, match: Any, base: FieldPath, at: FieldPath, namespace: str | None,
           out: Conversion) -> dict | None:
    rspec: dict[str, Any] = {}
    for key in route:
        if key not in ("match", "route", "rewrite", "name"):
            out.unsupported(base + (key,), "at a gateway: match, route, rewrite")
            return None
    if not isinstance(match, dict):
        out.problem(at, "must be a mapping")
        return None
    for key, value in match.items():
        if key == "uri" and isinstance(value, dict) and len(value) == 1 \
                and next(iter(value)) in _MATCH_KINDS:
            kind, text = next(iter(value.items()))
            if not (kind == "prefix" and text == "/"):
                rspec["path"] = {kind: text}
        elif key != "name":
            out.unsupported(at + (key,), "a gateway route matches on host and uri")
            return None
    destinations = route.get("route")
    if not isinstance(destinations, list) or not destinations:
        out.problem(base + ("route",), "a gateway route needs at least one destination")
        return None
    backends = []
    for i, d in enumerate(destinations):
        d_at = base + ("route", i)
        dest = d.get("destination") if isinstance(d, dict) else None
        svc = kube_service(dest.get("host")) if isinstance(dest, dict) else None
        if svc is None:
            out.problem(d_at + ("destination", "host"), "must be a Service of the mesh")
            return None
        if dest.get("subset"):
            out.unsupported(d_at + ("destination", "subset"), "behind the gateway, the "
                            "Service's own VirtualService or RouteRules choose subsets")
            return None
        backend: dict[str, Any] = {"service": service_ref(svc[0], svc[1] or namespace)}
        port = (dest.get("port") or {}).get("number") if isinstance(dest.get("port"), dict) else None
        if isinstance(port, int):
            backend["port"] = port
        if len(destinations) > 1:
            backend["weight"] = d.get("weight", 0)
        backends.append(backend)
    rspec["backends"] = backends
    rewrite = route.get("rewrite")
    if isinstance(rewrite, dict):
        uri = rewrite.get("uri")
        if set(rewrite) != {"uri"} or not isinstance(uri, str) or "prefix" not in (
                rspec.get("path") or {}):
            out.unsupported(base + ("rewrite",), "at a gateway: rewrite.uri under a uri prefix "
                                                 "match")
            return None
        rspec["rewrite"] = {"prefix": uri}
    return rspec
