"""networking.istio.io VirtualService, DestinationRule and ServiceEntry (v1alpha3 and later).

- VirtualService -> one RouteRule per HTTP route (one per match when a route has several),
  precedence in the VirtualService's order. A route to subset v2 gets the labels of subset
  v2 of the DestinationRule for the same host, which must be in the same input set.
- DestinationRule -> a DestinationPolicy for its traffic policy and one for each subset
  with its own; a DestinationRule with subsets only yields nothing of its own.
- ServiceEntry (outside the mesh) -> one EgressRule per host.
"""

from __future__ import annotations

from typing import Any

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.model.convert.base import (Context, Conversion, Converted, FieldPath,
                                         convert_metadata, kube_service, native_manifest,
                                         object_name, object_namespace, service_ref)
from meshtool.model.convert.istio_gateway import bound_gateways, gateway_routes
from meshtool.model.kinds import DESTINATION_POLICY, EGRESS_RULE, ROUTE_RULE
from meshtool.model.scope import parse_sidecar

API_VERSIONS = ("networking.istio.io/v1alpha3", "networking.istio.io/v1beta1",
                "networking.istio.io/v1")
_REQUEST_FIELDS = ("uri", "scheme", "method", "authority")
_BASE_ORIGIN = {(): (), ("metadata",): ("metadata",)}


def _export_to(value: Any, out: Conversion) -> None:
    """exportTo scopes which namespaces' proxies receive the resource (meshtool.model.scope)."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        out.problem(("spec", "exportTo"), "must be a list of namespaces, '.', '~' or '*'")


# --- Sidecar ---------------------------------------------------------------------------

def convert_sidecar(doc: dict, context: Context) -> Conversion:
    """A Sidecar compiles into no rule: it scopes what proxies receive (model.scope). Checked
    here, so that a broken one is refused when written, never at push time."""
    out = Conversion()
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    spec = doc.get("spec")
    if isinstance(spec, dict):
        for key in spec:
            if key not in ("workloadSelector", "egress"):
                out.unsupported(("spec", key), "meshtool scopes outbound services only")
    _, problems = parse_sidecar(meta.get("namespace") or DEFAULT_NAMESPACE, meta.get("name") or "",
                                spec)
    for path, message in problems:
        out.problem(path, message)
    return out


# --- VirtualService --------------------------------------------------------------------

def convert_virtual_service(doc: dict, context: Context) -> Conversion:
    out = Conversion()
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        out.problem(("spec",), "must be a mapping")
        return out
    gateways = spec.get("gateways")
    if isinstance(gateways, list) and bound_gateways(spec):
        gateway_routes(doc, spec, context, out)  # ingress: GatewayRoutes for the gateway
        if "mesh" not in gateways:
            return out
    for key in spec:
        if key == "exportTo":
            _export_to(spec[key], out)
        elif key == "gateways":
            if not isinstance(spec[key], list) or not all(isinstance(g, str) for g in spec[key]):
                out.problem(("spec", key), "must be a list of Gateway names (or mesh)")
        elif key in ("tcp", "tls"):
            out.unsupported(("spec", key), "only HTTP routes convert")
        elif key not in ("hosts", "http"):
            out.unsupported(("spec", key))
    hosts = spec.get("hosts")
    if not isinstance(hosts, list) or len(hosts) != 1:
        out.problem(("spec", "hosts"), "needs exactly one host: a RouteRule has one destination "
                                       "service (write one VirtualService per host)")
        return out
    dest = kube_service(hosts[0])
    if dest is None:
        out.problem(("spec", "hosts", 0), f"{hosts[0]!r} is not a service of the mesh "
                                          f"(for hosts outside it, use a ServiceEntry)")
        return out
    http = spec.get("http")
    if not isinstance(http, list) or not http:
        out.problem(("spec", "http"), "needs at least one HTTP route")
        return out
    namespace = object_namespace(doc)
    subsets = _SubsetIndex(context, namespace)
    metadata = convert_metadata(doc, out)
    items = []
    for i, route in enumerate(http):
        if not isinstance(route, dict):
            out.problem(("spec", "http", i), "must be a mapping")
            continue
        matches = route.get("match")
        if matches is None:
            items.append((i, None, route))
        elif isinstance(matches, list) and matches:
            items.extend((i, j, route) for j in range(len(matches)))
        else:
            out.problem(("spec", "http", i, "match"), "must be a non-empty list")
    name = object_name(doc)
    for k, (i, j, route) in enumerate(items):
        base: FieldPath = ("spec", "http", i)
        rspec: dict[str, Any] = {"destination": service_ref(*dest)}
        origin = {**_BASE_ORIGIN, ("spec",): base, ("spec", "destination"): ("spec", "hosts", 0)}
        if len(items) > 1:
            rspec["precedence"] = len(items) - 1 - k
        if j is not None:
            rspec["match"] = _match(route["match"][j], base + ("match", j), out)
            origin[("spec", "match")] = base + ("match", j)
        _http_route(route, base, rspec, origin, dest, subsets, namespace, out,
                    report=(j is None or j == 0))
        meta = dict(metadata)
        if isinstance(name, str) and len(items) > 1:
            meta["name"] = f"{name}-{k}"
        out.converted.append(Converted(native_manifest(ROUTE_RULE, meta, rspec), origin))
    return out


def _match(m: Any, path: FieldPath, out: Conversion) -> dict:
    if not isinstance(m, dict):
        out.problem(path, "must be a mapping")
        return {}
    headers: dict[str, Any] = {}
    result: dict[str, Any] = {}
    for key, value in m.items():
        if key in _REQUEST_FIELDS:
            headers[key] = value
        elif key == "headers" and isinstance(value, dict):
            for hname, cond in value.items():
                headers[str(hname).lower()] = cond
        elif key == "queryParams" and isinstance(value, dict):
            result.setdefault("request", {})["queryParams"] = dict(value)  # same StringMatch
        elif key == "sourceLabels" and isinstance(value, dict):
            app = value.get("app")
            if not isinstance(app, str):
                out.problem(path + (key,), "needs an 'app' label: it names the source service")
                continue
            result["source"] = {"name": app, "labels": dict(value)}
        elif key == "name":
            continue  # a label for people; no effect on routing
        else:
            out.unsupported(path + (key,))
    if headers:
        result.setdefault("request", {})["headers"] = headers
    return result


def _http_route(route: dict, base: FieldPath, rspec: dict, origin: dict, dest: tuple,
                subsets: "_SubsetIndex", namespace: str | None, out: Conversion,
                report: bool) -> None:
    """Fill a RouteRule spec from one HTTP route. `report` is false for the 2nd..nth rule
    made from the same route, so that each problem is reported once."""
    sink = out if report else Conversion()
    for key, value in route.items():
        path = base + (key,)
        if key in ("match", "name"):
            continue
        if key == "route":
            rspec["route"] = _destinations(value, path, dest, subsets, namespace, sink)
            origin[("spec", "route")] = path
        elif key == "redirect":
            rspec[key] = _only(value, path, ("uri", "authority", "redirectCode"), sink)
            origin[("spec", key)] = path
        elif key == "rewrite":
            rspec[key] = _only(value, path, ("uri", "authority"), sink)
            origin[("spec", key)] = path
        elif key == "timeout":
            rspec["httpReqTimeout"] = {"simpleTimeout": {"timeout": value}}
            origin[("spec", "httpReqTimeout", "simpleTimeout", "timeout")] = path
        elif key == "retries":
            rspec["httpReqRetries"] = {"simpleRetry": _retries(value, path, sink)}
            origin[("spec", "httpReqRetries", "simpleRetry")] = path
        elif key == "fault":
            rspec["httpFault"] = _fault(value, path, sink)
            origin[("spec", "httpFault")] = path
        elif key == "mirror":
            rspec["mirror"] = _mirror(value, path, subsets, sink)
            origin[("spec", "mirror")] = path
        elif key == "corsPolicy":
            rspec["corsPolicy"] = _cors(value, path, sink)
            origin[("spec", "corsPolicy")] = path
        elif key == "headers":
            for native, ops in _headers(value, path, sink).items():
                rspec[native] = ops
                origin[("spec", native)] = path + (
                    ("request", "add") if native == "appendHeaders" else
                    ("request",) if native == "requestHeaders" else ("response",))
        elif key in ("appendHeaders", "websocketUpgrade"):  # early v1alpha3 spellings
            rspec[key] = value
            origin[("spec", key)] = path
        else:
            sink.unsupported(path)


def _destinations(value: Any, path: FieldPath, dest: tuple, subsets: "_SubsetIndex",
                  namespace: str | None, out: Conversion) -> list:
    if not isinstance(value, list):
        out.problem(path, "must be a list")
        return []
    routes = []
    for i, entry in enumerate(value):
        epath = path + (i,)
        if not isinstance(entry, dict):
            out.problem(epath, "must be a mapping")
            continue
        native: dict[str, Any] = {}
        for key in entry:
            if key not in ("destination", "weight"):
                out.unsupported(epath + (key,))
        target = entry.get("destination")
        if not isinstance(target, dict):
            out.problem(epath + ("destination",), "must be a mapping with a host")
            continue
        for key in target:
            if key == "port":
                out.unsupported(epath + ("destination", key),
                                "a RouteRule routes every port of its destination")
            elif key not in ("host", "subset"):
                out.unsupported(epath + ("destination", key))
        svc = kube_service(target.get("host"))
        if svc is None or svc[0] != dest[0] or (svc[1] or namespace) != (dest[1] or namespace):
            out.problem(epath + ("destination", "host"),
                        f"routes to {target.get('host')!r}, not to the VirtualService's host: "
                        f"a RouteRule routes only among its destination's instances")
            continue
        if "subset" in target:
            labels = subsets.labels(svc, target["subset"], epath + ("destination", "subset"), out)
            if labels is None:
                continue
            native["labels"] = labels
        if "weight" in entry:
            native["weight"] = entry["weight"]
        routes.append(native)
    return routes


def _only(value: Any, path: FieldPath, keys: tuple[str, ...], out: Conversion) -> Any:
    if not isinstance(value, dict):
        return value  # the native schema reports the type
    for key in value:
        if key not in keys:
            out.unsupported(path + (key,))
    return {k: v for k, v in value.items() if k in keys}


# Envoy's retry_on conditions as Istio writes them, in meshtool's terms: response statuses
# retried (connect failures, resets and per-try timeouts always are).
_RETRY_ON_STATUSES = {"5xx": range(500, 600), "gateway-error": (502, 503, 504),
                      "retriable-4xx": (409,)}
_RETRY_ON_ALWAYS = ("connect-failure", "refused-stream", "reset", "reset-before-request")


def _retries(value: Any, path: FieldPath, out: Conversion) -> Any:
    """retries: attempts and perTryTimeout as they are; retryOn as response statuses."""
    simple = _only(value, path, ("attempts", "perTryTimeout", "retryOn"), out)
    if not isinstance(simple, dict) or "retryOn" not in simple:
        return simple
    on = simple.pop("retryOn")
    if not isinstance(on, str):
        out.problem(path + ("retryOn",), "must be a string of comma-separated conditions")
        return simple
    codes: set[int] = set()
    for cond in filter(None, (c.strip() for c in on.split(","))):
        if cond.isdigit() and 400 <= int(cond) <= 599:
            codes.add(int(cond))
        elif cond in _RETRY_ON_STATUSES:
            codes.update(_RETRY_ON_STATUSES[cond])
        elif cond not in _RETRY_ON_ALWAYS:
            out.problem(path + ("retryOn",), f"{cond!r} cannot be converted: meshtool retries on "
                        f"status codes, {', '.join(_RETRY_ON_STATUSES)}; connect failures and "
                        f"resets always")
    if codes != set(range(500, 600)):  # every 5xx is meshtool's default
        simple["codes"] = sorted(codes)
    return simple


def _percentage(value: dict, path: FieldPath, out: Conversion) -> Any:
    """percentage: {value: 10.0} (later) or percent: 10 (early v1alpha3); absent = 100."""
    if "percentage" in value:
        pct = value["percentage"]
        if isinstance(pct, dict) and set(pct) == {"value"}:
            return pct["value"]
        out.problem(path + ("percentage",), "must be {value: NUMBER}")
        return None
    return value.get("percent", 100)


def _fault(value: Any, path: FieldPath, out: Conversion) -> Any:
    if not isinstance(value, dict):
        return value
    fault: dict[str, Any] = {}
    for key, part in value.items():
        ppath = path + (key,)
        if key not in ("delay", "abort") or not isinstance(part, dict):
            out.unsupported(ppath)
            continue
        allowed = ("fixedDelay",) if key == "delay" else ("httpStatus",)
        for sub in part:
            if sub not in allowed + ("percentage", "percent"):
                out.unsupported(ppath + (sub,))
        native = {k: part[k] for k in allowed if k in part}
        pct = _percentage(part, ppath, out)
        if pct is not None:
            native["percent"] = pct
        fault[key] = native
    return fault


def _mirror(value: Any, path: FieldPath, subsets: "_SubsetIndex", out: Conversion) -> Any:
    if not isinstance(value, dict):
        return value
    for key in value:
        if key not in ("host", "subset"):
            out.unsupported(path + (key,))
    svc = kube_service(value.get("host"))
    if svc is None:
        out.problem(path + ("host",), f"{value.get('host')!r} is not a service of the mesh")
        return {}
    mirror = service_ref(*svc)
    if "subset" in value:
        labels = subsets.labels(svc, value["subset"], path + ("subset",), out)
        if labels is not None:
            mirror["labels"] = labels
    return mirror


def _cors(value: Any, path: FieldPath, out: Conversion) -> Any:
    if not isinstance(value, dict):
        return value
    cors: dict[str, Any] = {}
    for key, item in value.items():
        if key in ("allowOrigin", "allowMethods", "allowHeaders", "exposeHeaders", "maxAge",
                   "allowCredentials"):
            cors[key] = item
        elif key == "allowOrigins" and isinstance(item, list):
            origins = []
            for i, cond in enumerate(item):
                if isinstance(cond, dict) and set(cond) == {"exact"}:
                    origins.append(cond["exact"])
                else:
                    out.unsupported(path + (key, i), "only exact origins convert")
            cors["allowOrigin"] = cors.get("allowOrigin", []) + origins
        else:
            out.unsupported(path + (key,))
    return cors


def _headers(value: Any, path: FieldPath, out: Conversion) -> dict[str, Any]:
    """headers.request/response {set, add, remove} -> the native fields: request `add` stays
    appendHeaders (the field Istio 0.x had), the rest requestHeaders / responseHeaders."""
    if not isinstance(value, dict):
        out.problem(path, "must be a mapping")
        return {}
    result: dict[str, Any] = {}
    for key, ops in value.items():
        if key not in ("request", "response") or not isinstance(ops, dict):
            out.unsupported(path + (key,), "request and response header changes convert")
            continue
        native = "requestHeaders" if key == "request" else "responseHeaders"
        for op, item in ops.items():
            if op == "add" and key == "request":
                result["appendHeaders"] = item
            elif op in ("set", "add", "remove"):
                result.setdefault(native, {})[op] = item
            else:
                out.unsupported(path + (key, op))
    return result


class _SubsetIndex:
    """Subsets of the DestinationRules in the input set, by service."""

    def __init__(self, context: Context, namespace: str | None):
        self.namespace = namespace
        self.rules: list[tuple[tuple[str, str | None], dict]] = []
        for dr in context.of_kind(API_VERSIONS, "DestinationRule"):
            spec = dr.get("spec")
            svc = kube_service(spec.get("host")) if isinstance(spec, dict) else None
            if svc is not None:
                self.rules.append(((svc[0], svc[1] or object_namespace(dr)), spec))

    def labels(self, svc: tuple[str, str | None], subset: Any, path: FieldPath,
               out: Conversion) -> dict | None:
        key = (svc[0], svc[1] or self.namespace)
        specs = [spec for k, spec in self.rules if k == key]
        if not specs:
            out.unresolved_reference(path, f"subset {subset!r} needs the DestinationRule of "
                                           f"{svc[0]!r} (none found)")
            return None
        for spec in specs:
            entries = spec.get("subsets")
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and entry.get("name") == subset:
                    labels = entry.get("labels")
                    return dict(labels) if isinstance(labels, dict) else {}
        out.unresolved_reference(path, f"the DestinationRule of {svc[0]!r} has no subset "
                                       f"{subset!r}")
        return None


# --- DestinationRule -------------------------------------------------------------------

_LB = {"ROUND_ROBIN": "ROUND_ROBIN", "LEAST_CONN": "LEAST_CONN", "LEAST_REQUEST": "LEAST_CONN",
       "RANDOM": "RANDOM"}
# trafficPolicy section -> {field: simpleCb field}
_CB_FIELDS = {
    ("connectionPool", "tcp"): {"maxConnections": "maxConnections"},
    ("connectionPool", "http"): {"http1MaxPendingRequests": "httpMaxPendingRequests",
                                 "http2MaxRequests": "httpMaxRequests",
                                 "maxRequestsPerConnection": "httpMaxRequestsPerConnection",
                                 "maxRetries": "httpMaxRetries"},
    ("outlierDetection",): {"consecutiveErrors": "httpConsecutiveErrors",
                            "consecutive5xxErrors": "httpConsecutiveErrors",
                            "interval": "httpDetectionInterval",
                            "baseEjectionTime": "sleepWindow",
                            "maxEjectionPercent": "httpMaxEjectionPercent"},
}


def convert_destination_rule(doc: dict, context: Context) -> Conversion:
    out = Conversion()
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        out.problem(("spec",), "must be a mapping")
        return out
    for key in spec:
        if key == "exportTo":
            _export_to(spec[key], out)
        elif key not in ("host", "trafficPolicy", "subsets"):
            out.unsupported(("spec", key))
    svc = kube_service(spec.get("host"))
    if svc is None:
        out.problem(("spec", "host"), f"{spec.get('host')!r} is not a service of the mesh")
        return out
    metadata = convert_metadata(doc, out)
    name = object_name(doc)
    policies = [(("spec", "trafficPolicy"), spec.get("trafficPolicy"), None, name)]
    subsets = spec.get("subsets")
    if subsets is not None and not isinstance(subsets, list):
        out.problem(("spec", "subsets"), "must be a list")
        subsets = []
    for i, subset in enumerate(subsets or []):
        if not isinstance(subset, dict):
            out.problem(("spec", "subsets", i), "must be a mapping")
            continue
        for key in subset:
            if key not in ("name", "labels", "trafficPolicy"):
                out.unsupported(("spec", "subsets", i, key))
        if "trafficPolicy" in subset:
            labels = subset.get("labels") if isinstance(subset.get("labels"), dict) else {}
            policies.append((("spec", "subsets", i, "trafficPolicy"), subset["trafficPolicy"],
                             labels, f"{name}-{subset.get('name')}"))
    for path, policy, labels, pname in policies:
        if policy is None:
            continue
        dspec = _traffic_policy(policy, path, out)
        dest = service_ref(*svc)
        if labels:
            dest["labels"] = dict(labels)
        meta = {**metadata, "name": pname} if isinstance(name, str) else dict(metadata)
        origin = {**_BASE_ORIGIN, ("spec",): path, ("spec", "destination"): ("spec", "host")}
        out.converted.append(Converted(native_manifest(DESTINATION_POLICY, meta,
                                                       {"destination": dest, **dspec}), origin))
    return out


def _traffic_policy(policy: Any, path: FieldPath, out: Conversion) -> dict:
    if not isinstance(policy, dict):
        out.problem(path, "must be a mapping")
        return {}
    result: dict[str, Any] = {}
    cb: dict[str, Any] = {}
    for key, value in policy.items():
        if key == "loadBalancer" and isinstance(value, dict):
            for lkey, lvalue in value.items():
                if lkey == "simple" and lvalue in _LB:
                    result.setdefault("loadBalancing", {})["name"] = _LB[lvalue]
                elif lkey == "localityLbSetting" and isinstance(lvalue, dict):
                    locality = _locality(lvalue, path + (key, lkey), out)
                    result.setdefault("loadBalancing", {})["locality"] = locality
                else:
                    out.unsupported(path + (key, lkey))
        elif key == "connectionPool" and isinstance(value, dict):
            for proto, fields in value.items():
                _cb_fields(fields, path + (key, proto), _CB_FIELDS.get((key, proto)), cb, out)
        elif key == "outlierDetection":
            _cb_fields(value, path + (key,), _CB_FIELDS[(key,)], cb, out)
        elif key == "tls" and isinstance(value, dict):
            for tkey in value:
                if tkey != "mode":
                    out.unsupported(path + (key, tkey))
            if value.get("mode") in ("ISTIO_MUTUAL", "DISABLE"):
                result["tls"] = {"mode": value["mode"]}
            else:
                out.unsupported(path + (key, "mode"), "meshtool originates ISTIO_MUTUAL or "
                                                      "DISABLE between sidecars only")
        else:
            out.unsupported(path + (key,))
    if cb:
        result["circuitBreaker"] = {"simpleCb": cb}
    return result


# Istio's cluster label names the same thing as ours
_LOCALITY_LABELS = {"topology.istio.io/cluster": "topology.meshtool.io/cluster"}


def _locality(setting: dict, path: FieldPath, out: Conversion) -> dict:
    """localityLbSetting -> the native loadBalancing.locality (enabled, failoverPriority);
    `failover` (region pairs) and `distribute` (weights) have no native form yet."""
    locality: dict[str, Any] = {}
    for key, value in setting.items():
        if key == "enabled":
            locality["enabled"] = value
        elif key == "failoverPriority" and isinstance(value, list):
            locality["failoverPriority"] = [_LOCALITY_LABELS.get(v, v) if isinstance(v, str)
                                            else v for v in value]
        else:
            out.unsupported(path + (key,))
    return locality


def _cb_fields(fields: Any, path: FieldPath, table: dict | None, cb: dict,
               out: Conversion) -> None:
    if table is None or not isinstance(fields, dict):
        out.unsupported(path)
        return
    for key, value in fields.items():
        if key in table:
            cb[table[key]] = value
        else:
            out.unsupported(path + (key,))


# --- ServiceEntry ----------------------------------------------------------------------

def convert_service_entry(doc: dict, context: Context) -> Conversion:
    out = Conversion()
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        out.problem(("spec",), "must be a mapping")
        return out
    for key, value in spec.items():
        if key == "location" and value == "MESH_INTERNAL":
            out.unsupported(("spec", key), "services inside the mesh need no egress rule")
        elif key == "resolution" and value == "STATIC":
            out.unsupported(("spec", key), "meshtool resolves external hosts by DNS")
        elif key == "exportTo":
            _export_to(value, out)
        elif key not in ("hosts", "ports", "location", "resolution"):
            out.unsupported(("spec", key))
    hosts = spec.get("hosts")
    if not isinstance(hosts, list) or not hosts:
        out.problem(("spec", "hosts"), "needs at least one host")
        return out
    ports = []
    raw_ports = spec.get("ports")
    if not isinstance(raw_ports, list):
        out.problem(("spec", "ports"), "must be a list of ports")
        raw_ports = []
    for i, entry in enumerate(raw_ports):
        if not isinstance(entry, dict):
            out.problem(("spec", "ports", i), "must be a mapping")
            continue
        for key in entry:
            if key not in ("number", "protocol", "name"):
                out.unsupported(("spec", "ports", i, key))
        protocol = entry.get("protocol")
        if isinstance(protocol, str):
            protocol = protocol.lower()
        if protocol == "tls":
            out.unsupported(("spec", "ports", i, "protocol"), "use https or tcp")
        ports.append({"port": entry.get("number"), "protocol": protocol})
    metadata = convert_metadata(doc, out)
    name = object_name(doc)
    for k, host in enumerate(hosts):
        meta = dict(metadata)
        if isinstance(name, str) and len(hosts) > 1:
            meta["name"] = f"{name}-{k}"
        origin = {**_BASE_ORIGIN, ("spec",): ("spec",),
                  ("spec", "destination"): ("spec", "hosts", k),
                  ("spec", "ports"): ("spec", "ports")}
        espec = {"destination": {"service": host}, "ports": [dict(p) for p in ports]}
        out.converted.append(Converted(native_manifest(EGRESS_RULE, meta, espec), origin))
    return out
