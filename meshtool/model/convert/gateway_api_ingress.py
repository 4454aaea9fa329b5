"""Gateway API for traffic entering the mesh: Gateway, and HTTPRoutes with a Gateway parent
-> GatewayRoutes.

- A Gateway of class `meshtool` is checked (listeners HTTP or HTTPS, port, hostname, HTTPS
  certificateRefs to Secrets) and compiles into nothing itself: its listeners' hostnames bound
  the routes attached to it; another class's Gateway is left to its controller.
- An HTTPRoute whose parentRef is such a Gateway (in the input or the store) becomes one
  GatewayRoute per match: hostnames (the route's, else its listeners'), path Exact /
  PathPrefix / RegularExpression, backendRefs with relative weights (normalised to 100),
  filters URLRewrite ReplacePrefixMatch and RequestRedirect to scheme https. A parent Gateway
  that is missing leaves the route unresolved until it is stored.
"""

from __future__ import annotations

from typing import Any

from meshtool.conventions import GATEWAY_CLASS
from meshtool.model.convert.base import (Context, Conversion, FieldPath, convert_metadata, listed,
                                         emit_gateway_routes, find_object, object_namespace,
                                         service_ref)
from meshtool.model.convert.kuma import normalise_weights
from meshtool.model.kinds import GATEWAY_ROUTE

GROUP = "gateway.networking.k8s.io"
GATEWAY_API_VERSIONS = (f"{GROUP}/v1beta1", f"{GROUP}/v1")
PROTOCOLS = ("HTTP", "HTTPS")
_SERVICE_GROUPS = ("", "core")
_PATHS = {"Exact": "exact", "PathPrefix": "prefix", "RegularExpression": "regex"}


def convert_gateway(doc: dict, context: Context) -> Conversion:
    out = Conversion()
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        out.problem(("spec",), "must be a mapping")
        return out
    if not isinstance(spec.get("gatewayClassName"), str):
        out.problem(("spec", "gatewayClassName"), "required: the GatewayClass name")
        return out
    if spec["gatewayClassName"] != GATEWAY_CLASS:
        return out  # another controller's Gateway
    for key in spec:
        if key not in ("gatewayClassName", "listeners", "addresses"):
            out.unsupported(("spec", key))
    listeners = spec.get("listeners")
    if not isinstance(listeners, list) or not listeners:
        out.problem(("spec", "listeners"), "needs at least one listener")
        return out
    for i, listener in enumerate(listeners):
        at: FieldPath = ("spec", "listeners", i)
        if not isinstance(listener, dict) or not isinstance(listener.get("name"), str):
            out.problem(at, "must be a mapping with name, port and protocol")
            continue
        if listener.get("protocol") not in PROTOCOLS:
            out.problem(at + ("protocol",), f"protocol {listener.get('protocol')!r} is not "
                                            f"supported: HTTP or HTTPS")
        port = listener.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            out.problem(at + ("port",), f"must be 1..65535, got {port!r}")
        if listener.get("protocol") == "HTTPS":
            refs = (listener.get("tls") or {}).get("certificateRefs") if isinstance(
                listener.get("tls"), dict) else None
            if (listener.get("tls") or {}).get("mode", "Terminate") != "Terminate":
                out.unsupported(at + ("tls", "mode"), "the gateway terminates TLS")
            if not isinstance(refs, list) or not refs or not all(
                    isinstance(r, dict) and r.get("kind", "Secret") == "Secret"
                    and isinstance(r.get("name"), str) for r in refs):
                out.problem(at + ("tls", "certificateRefs"), "an HTTPS listener needs "
                                                             "certificateRefs to Secrets")
    convert_metadata(doc, out)
    return out


def gateway_parent(ref: dict) -> bool:
    return ref.get("kind", "Gateway") == "Gateway" and ref.get("group", GROUP) == GROUP


def routes_for_gateways(doc: dict, spec: dict, parents: list[tuple[dict, FieldPath]],
                        context: Context, out: Conversion) -> None:
    """Append the GatewayRoutes of an HTTPRoute attached to Gateways of meshtool's class."""
    namespace = object_namespace(doc)
    hosts: list[str] = []
    ours = False
    for ref, at in parents:
        gw = find_object(context, GATEWAY_API_VERSIONS, "Gateway", ref.get("name"),
                         ref.get("namespace") or namespace)
        if gw is None:
            out.unresolved_reference(at, f"parentRef Gateway {ref.get('name')!r} not found")
            continue
        if (gw.get("spec") or {}).get("gatewayClassName") != GATEWAY_CLASS:
            continue  # another controller's Gateway
        ours = True
        for listener in listed((gw.get("spec") or {}).get("listeners")):
            if isinstance(listener, dict) and (ref.get("sectionName") in (None, listener.get(
                    "name"))) and isinstance(listener.get("hostname"), str):
                hosts.append(listener["hostname"])
    if not ours:
        return
    own = spec.get("hostnames")
    if isinstance(own, list) and own:
        hosts = [h for h in own if isinstance(h, str)]
    metadata = convert_metadata(doc, Conversion())
    rules = spec.get("rules") if isinstance(spec.get("rules"), list) else []
    specs: list[tuple[dict, FieldPath]] = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        base: FieldPath = ("spec", "rules", i)
        matches = rule.get("matches") or [{}]
        for j, match in enumerate(matches if isinstance(matches, list) else [{}]):
            rspec = _route(rule, match, base, base + ("matches", j), namespace, out)
            if rspec is not None:
                if hosts:
                    rspec["hosts"] = sorted(set(hosts))
                specs.append((rspec, base))
    emit_gateway_routes(out, doc, metadata, specs, GATEWAY_ROUTE)


def _route(rule: dict, match: Any, base: FieldPath, at: FieldPath, namespace: str | None,
           out: Conversion) -> dict | None:
    rspec: dict[str, Any] = {}
    if not isinstance(match, dict):
        out.problem(at, "must be a mapping")
        return None
    for key, value in match.items():
        if key == "path" and isinstance(value, dict):
            kind = _PATHS.get(value.get("type", "PathPrefix"))
            text = value.get("value", "/")
            if kind is None or not isinstance(text, str):
                out.problem(at + ("path",), "needs type Exact, PathPrefix or RegularExpression "
                                            "and a value")
                return None
            if not (kind == "prefix" and text == "/"):
                rspec["path"] = {kind: text}
        else:
            out.unsupported(at + (key,), "a gateway route matches on host and path")
            return None
    backends = rule.get("backendRefs")
    if not isinstance(backends, list) or not backends:
        out.problem(base + ("backendRefs",), "a gateway route needs at least one backend Service")
        return None
    refs, weights = [], []
    for i, ref in enumerate(backends):
        b_at = base + ("backendRefs", i)
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str) or \
                ref.get("kind", "Service") != "Service" or ref.get("group", "") not in _SERVICE_GROUPS:
            out.problem(b_at, "backends are Services (name, port)")
            return None
        weight = ref.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            out.problem(b_at + ("weight",), "must be an integer, 0 or more")
            return None
        backend: dict[str, Any] = {"service": service_ref(ref["name"], ref.get("namespace")
                                                          or namespace)}
        if isinstance(ref.get("port"), int):
            backend["port"] = ref["port"]
        refs.append(backend)
        weights.append(weight)
    if sum(weights) == 0:
        out.problem(base + ("backendRefs",), "every weight is 0")
        return None
    rspec["backends"] = [dict(b, weight=w) for b, w in zip(refs, normalise_weights(weights))
                         if w]
    for i, f in enumerate(out.items(rule.get("filters"), base + ("filters",))):
        f_at = base + ("filters", i)
        kind = f.get("type") if isinstance(f, dict) else None
        path = ((f.get("urlRewrite") or {}).get("path") or {}) if kind == "URLRewrite" else {}
        if kind == "URLRewrite" and path.get("type") == "ReplacePrefixMatch" and \
                isinstance(path.get("replacePrefixMatch"), str) and "path" in rspec:
            rspec["rewrite"] = {"prefix": path["replacePrefixMatch"]}
        elif kind == "RequestRedirect" and (f.get("requestRedirect") or {}).get("scheme") == "https":
            rspec["httpsRedirect"] = True
        else:
            out.unsupported(f_at, "gateway routes convert URLRewrite ReplacePrefixMatch (with a "
                                  "path match) and RequestRedirect to https")
            return None
    return rspec
