"""gateway.networking.k8s.io HTTPRoute and GRPCRoute attached to a Service (the GAMMA mesh
pattern) -> RouteRules.

- Each Service parentRef is a destination; each match of each rule one RouteRule (OR across
  matches, AND within), named `NAME-0`, `NAME-1`, ... (one rule with at most one match keeps
  NAME), with precedence by specificity as the specification orders matches (_ranks).
  Gateway parents (ingress) make GatewayRoutes
  (meshtool.model.convert.gateway_api_ingress).
- Matches: path Exact / PathPrefix / RegularExpression, headers and queryParams Exact /
  RegularExpression, method; GRPCRoute method service/method becomes the path /SERVICE/METHOD. A PathPrefix
  matches whole segments, so it becomes two rules (exact /p and prefix /p/) or a regex.
- backendRefs are Services with relative weights (default 1), normalised to percentages that
  sum to 100 (largest remainder); the parent itself means all its instances, another Service
  a share sent to that Service. No backend, or only weight 0: the request is answered 500, as
  the specification says.
- Filters RequestHeaderModifier and ResponseHeaderModifier (set, add, remove), RequestRedirect
  (hostname, path ReplaceFullPath, statusCode 301 or 302, default 302),
  URLRewrite (hostname, path ReplaceFullPath/ReplacePrefixMatch) and RequestMirror (of every
  request); timeouts request and backendRequest ("0s": none; without retry, the shorter of the
  two limits the one try); retry attempts, codes and backoff.
- hostnames: the route applies only to requests whose Host (without its port) is one of them;
  `*.example.com` matches any name ending in `.example.com`, as the specification says.
- A parent's port (1-65535) limits the route to calls to that Service port (a "port" match, as
  GAMMA says); without one it holds for every port. A backend's or a mirror's port is checked
  only: they get requests at their endpoints (the same for the usual one-port Service).
Anything else is refused naming its field, never dropped.
"""

from __future__ import annotations

import re
from typing import Any

from meshtool.model.convert.base import (Context, Conversion, Converted, FieldPath,
                                         convert_metadata, native_manifest, object_name,
                                         object_namespace)
from meshtool.model.convert.gateway_api_ingress import gateway_parent, routes_for_gateways
from meshtool.model.convert.kuma import normalise_weights
from meshtool.model.durations import parse_duration
from meshtool.model.kinds import ROUTE_RULE

GROUP = "gateway.networking.k8s.io"
HTTP_API_VERSIONS = (f"{GROUP}/v1beta1", f"{GROUP}/v1")
GRPC_API_VERSIONS = (f"{GROUP}/v1alpha2", f"{GROUP}/v1")
_SERVICE_GROUPS = ("", "core")
_RULE_KEYS = ("name", "matches", "filters", "backendRefs", "timeouts", "retry")
_PATH_PREFIX = "pathPrefix"  # segment-wise; expanded by _path_variants into native matches
_QUERY = "?queryParams"  # _match's query conditions, beside the headers it returns


def convert_http_route(doc: dict, context: Context) -> Conversion:
    return _convert(doc, context, grpc=False)


def convert_grpc_route(doc: dict, context: Context) -> Conversion:
    return _convert(doc, context, grpc=True)


def _convert(doc: dict, context: Context, *, grpc: bool) -> Conversion:
    out = Conversion()
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        out.problem(("spec",), "must be a mapping")
        return out
    for key in spec:
        if key not in ("parentRefs", "hostnames", "rules"):
            out.unsupported(("spec", key))
    namespace = object_namespace(doc)
    gateways: list[tuple[dict, FieldPath]] = []
    parents = _parents(spec.get("parentRefs"), namespace, out, gateways)
    rules = spec.get("rules")
    if not isinstance(rules, list) or not rules:
        out.problem(("spec", "rules"), "needs at least one rule")
        return out
    authority = _hostnames(spec.get("hostnames"), out)
    metadata = convert_metadata(doc, out)
    items: list[tuple[int, int | None, dict]] = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            out.problem(("spec", "rules", i), "must be a mapping")
            continue
        for key in rule:
            if key not in _RULE_KEYS or (grpc and key in ("timeouts", "retry")):  # not in GRPCRoute
                out.unsupported(("spec", "rules", i, key))
        matches = rule.get("matches")
        if matches is None or matches == []:
            items.append((i, None, rule))
        elif isinstance(matches, list):
            items.extend((i, j, rule) for j in range(len(matches)))
        else:
            out.problem(("spec", "rules", i, "matches"), "must be a list")
    name = object_name(doc)
    ranks = _ranks(items, grpc)
    produced: list[tuple[dict, dict]] = []
    for p, (parent, ppath, port) in enumerate(parents):
        for k, (i, j, rule) in enumerate(items):
            base: FieldPath = ("spec", "rules", i)
            headers: dict[str, dict] = {}
            if j is not None:
                headers = _match(rule["matches"][j], base + ("matches", j), grpc, out)
            query = headers.pop(_QUERY, None)
            if authority:
                headers["authority"] = authority
            if port is not None:  # GAMMA: the route holds for calls to this Service port only
                headers["port"] = {"exact": str(port)}
            for variant in _path_variants(headers, rule):
                rspec: dict[str, Any] = {"destination": parent}
                origin = {(): (), ("metadata",): ("metadata",), ("spec",): base,
                          ("spec", "destination"): ppath}
                if len(items) > 1:
                    rspec["precedence"] = len(items) - 1 - ranks[k]
                request = {**({"headers": variant} if variant else {}),
                           **({"queryParams": query} if query else {})}
                if request:
                    rspec["match"] = {"request": request}
                    origin[("spec", "match")] = (
                        base + ("matches", j) if j is not None
                        else ("spec", "hostnames") if authority else ppath + ("port",))
                report = p == 0 and (j is None or j == 0)  # each field's problems once
                sink = out if report else Conversion()
                _backends(rule.get("backendRefs"), base + ("backendRefs",), parent, rspec, sink)
                origin[("spec", "route")] = base + ("backendRefs",)
                _filters(rule.get("filters"), base + ("filters",), parent, rspec, sink, grpc)
                _timeouts(rule, base, rspec, sink)
                _fit_prefix_rewrite(rspec, variant)
                produced.append((rspec, origin))
    for n, (rspec, origin) in enumerate(produced):
        meta = dict(metadata)
        if isinstance(name, str) and len(produced) > 1:
            meta["name"] = f"{name}-{n}"
        out.converted.append(Converted(native_manifest(ROUTE_RULE, meta, rspec), origin))
    if gateways and not grpc:
        routes_for_gateways(doc, spec, gateways, context, out)
    elif gateways:
        out.unsupported(gateways[0][1], "GRPCRoutes attach to Services")
    return out


_HOSTNAME = re.compile(r"(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")


def _hostnames(value: Any, out: Conversion) -> dict | None:
    """spec.hostnames -> one condition on the request's authority (Host), port ignored:
    {regex: "(?i)(a\\.b|.+\\.example\\.com)(:[0-9]+)?"}; None when there are none."""
    path: FieldPath = ("spec", "hostnames")
    if value is None or value == []:
        return None
    if not isinstance(value, list):
        out.problem(path, "must be a list of host names")
        return None
    names = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or not _HOSTNAME.match(name) or _is_ip(name):
            out.problem(path + (i,), "must be a host name such as benigno.default.svc.cluster.local"
                                     " or *.example.com (no IP address, no port)")
            return None
        names.append(".+" + re.escape(name[1:]) if name.startswith("*.") else re.escape(name))
    return {"regex": f"(?i)({'|'.join(names)})(:[0-9]+)?"}


def _is_ip(name: str) -> bool:
    return all(part.isdigit() for part in name.split("."))


def _ranks(items: list[tuple[int, int | None, dict]], grpc: bool) -> list[int]:
    """Each match's rank, most specific first, as the specification orders them: an Exact path,
    then the longest PathPrefix, then a RegularExpression; then a method, more headers, more
    query parameters (GRPCRoute: the longer service, the longer method, more headers); ties in
    the route's order."""
    def key(item: tuple[int, int | None, dict]) -> tuple:
        i, j, rule = item
        m = rule["matches"][j] if j is not None else {}
        m = m if isinstance(m, dict) else {}
        headers = len(m["headers"]) if isinstance(m.get("headers"), list) else 0
        if grpc:
            method = m.get("method") if isinstance(m.get("method"), dict) else {}
            return (len(str(method.get("service", ""))), len(str(method.get("method", ""))),
                    headers)
        path = m.get("path") if isinstance(m.get("path"), dict) else {}
        kind = {"Exact": 3, "PathPrefix": 2}.get(path.get("type", "PathPrefix"), 1)
        length = len(str(path.get("value", "/"))) if kind == 2 else 0
        query = len(m["queryParams"]) if isinstance(m.get("queryParams"), list) else 0
        return (kind, length, "method" in m, headers, query)

    order = sorted(range(len(items)), key=lambda k: (tuple(-x for x in key(items[k])), k))
    ranks = [0] * len(items)
    for rank, k in enumerate(order):
        ranks[k] = rank
    return ranks


def _path_variants(headers: dict[str, dict], rule: dict) -> list[dict[str, dict]]:
    """A PathPrefix matches whole path segments (/api matches /api and /api/v1, never /apis);
    a native prefix compares characters. So PathPrefix /api becomes two native matches, exact
    /api and prefix /api/ (each keeping a ReplacePrefixMatch rewrite exact), or, under a
    ReplaceFullPath rewrite, one regular expression."""
    path = headers.get("uri", {}).get(_PATH_PREFIX)
    if path is None:
        return [headers]
    stem = path.rstrip("/")
    if _full_path_rewrite(rule):
        return [{**headers, "uri": {"regex": re.escape(stem) + "(/.*)?"}}]
    return [{**headers, "uri": {"exact": stem}}, {**headers, "uri": {"prefix": stem + "/"}}]


def _full_path_rewrite(rule: dict) -> bool:
    for f in rule.get("filters") or ():
        if isinstance(f, dict) and f.get("type") == "URLRewrite":
            path = (f.get("urlRewrite") or {}).get("path")
            if isinstance(path, dict) and path.get("type") == "ReplaceFullPath":
                return True
    return False


def _fit_prefix_rewrite(rspec: dict, variant: dict[str, dict]) -> None:
    """ReplacePrefixMatch X on the two halves of a PathPrefix: /api -> X, /api/ -> X/."""
    rewrite = rspec.get("rewrite")
    uri = variant.get("uri", {})
    if not isinstance(rewrite, dict) or not isinstance(rewrite.get("uri"), str):
        return
    stem = rewrite["uri"].rstrip("/")
    if "prefix" in uri and uri["prefix"].endswith("/") and uri["prefix"] != "/":
        rewrite["uri"] = stem + "/"
    elif "exact" in uri:
        rewrite["uri"] = stem or "/"


def _parents(value: Any, namespace: str | None, out: Conversion,
             gateways: list[tuple[dict, FieldPath]]) -> list[tuple[dict, FieldPath, int | None]]:
    """The Service parents, each with the port it names (None: every port of the Service);
    Gateway parents (ingress) go to `gateways`."""
    path: FieldPath = ("spec", "parentRefs")
    if not isinstance(value, list) or not value:
        out.problem(path, "needs a parentRef: a Service (the mesh's GAMMA pattern) or a Gateway")
        return []
    parents = []
    for i, ref in enumerate(value):
        at = path + (i,)
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
            out.problem(at, "must be a mapping with name")
            continue
        if gateway_parent(ref):
            gateways.append((ref, at))
            continue
        service = _service_ref(ref, at, namespace, out, default_kind="Gateway",
                               wrong_kind="parents are Services (mesh routes) or Gateways (ingress)")
        if service is not None:
            parents.append((service, at, ref.get("port")))
    return parents


def _service_ref(ref: dict, path: FieldPath, namespace: str | None, out: Conversion, *,
                 default_kind: str = "Service", wrong_kind: str = "must be a Service",
                 also: tuple[str, ...] = ()) -> dict | None:
    """A Service reference (a parent, a backend, a mirror) -> the native {name, namespace};
    None, with the problem said, when it is another kind, has fields outside the set or a bad
    port. A parent's port becomes a "port" match of its rules (_parents); a backend's or a
    mirror's is checked only: they get requests at their endpoints (docs/rules.md)."""
    if ref.get("kind", default_kind) != "Service" or ref.get("group", "") not in _SERVICE_GROUPS:
        out.problem(path + ("kind",), wrong_kind)
        return None
    _only(ref, path, ("group", "kind", "name", "namespace", "port", *also), out)
    port = ref.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                             or not 1 <= port <= 65535):
        out.problem(path + ("port",), "must be a port number, 1 to 65535")
        return None
    ns = ref.get("namespace") or namespace
    return {"name": ref["name"], "namespace": ns} if ns else {"name": ref["name"]}


def _match(m: Any, path: FieldPath, grpc: bool, out: Conversion) -> dict:
    if not isinstance(m, dict):
        out.problem(path, "must be a mapping")
        return {}
    headers: dict[str, dict] = {}
    for key, value in m.items():
        at = path + (key,)
        if key == "path" and not grpc:
            _only(value, at, ("type", "value"), out)
            kind = value.get("type", "PathPrefix") if isinstance(value, dict) else None
            text = value.get("value", "/") if isinstance(value, dict) else None
            op = {"Exact": "exact", "PathPrefix": _PATH_PREFIX,
                  "RegularExpression": "regex"}.get(kind)
            if op is None or not isinstance(text, str):
                out.problem(at, "needs type Exact, PathPrefix or RegularExpression and a value")
            elif not (op == _PATH_PREFIX and text.rstrip("/") == ""):
                headers["uri"] = {op: text}
        elif key == "method" and grpc:
            headers.update(_grpc_method(value, at, out))
        elif key == "method":
            if not isinstance(value, str):
                out.problem(at, "must be an HTTP method")
            else:
                headers["method"] = {"exact": value}
        elif key == "headers":
            headers.update((name.lower(), cond) for name, cond in _conditions(value, at, out))
        elif key == "queryParams" and not grpc:
            headers.setdefault(_QUERY, {}).update(_conditions(value, at, out))
        else:
            out.unsupported(at, "matches on path, headers, queryParams and method convert")
    return headers


def _conditions(value: Any, path: FieldPath, out: Conversion) -> list[tuple[str, dict]]:
    """headers or queryParams matches [{name, value, type}] -> [(name, {exact|regex: value})]."""
    found = []
    for i, m in enumerate(value if isinstance(value, list) else [None]):
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) \
                or not isinstance(m.get("value"), str):
            out.problem(path + (i,), "needs name and value")
            continue
        _only(m, path + (i,), ("name", "value", "type"), out)
        op = {"Exact": "exact", "RegularExpression": "regex"}.get(m.get("type", "Exact"))
        if op is None:
            out.problem(path + (i, "type"), "must be Exact or RegularExpression")
            continue
        found.append((m["name"], {op: m["value"]}))
    return found


def _only(value: Any, path: FieldPath, keys: tuple[str, ...], out: Conversion) -> None:
    """Refuse, naming it, every field of a mapping outside `keys`."""
    for key in value if isinstance(value, dict) else ():
        if key not in keys:
            out.unsupported(path + (key,))


def _grpc_method(value: Any, path: FieldPath, out: Conversion) -> dict:
    if not isinstance(value, dict):
        out.problem(path, "must be a mapping with service and method")
        return {}
    if value.get("type", "Exact") != "Exact":
        out.unsupported(path + ("type",), "Exact gRPC method matches convert")
        return {}
    _only(value, path, ("type", "service", "method"), out)
    service, method = value.get("service"), value.get("method")
    if isinstance(service, str) and isinstance(method, str):
        return {"uri": {"exact": f"/{service}/{method}"}}
    if isinstance(service, str):
        return {"uri": {"prefix": f"/{service}/"}}
    out.problem(path + ("service",), "needs the gRPC service")
    return {}


def _backends(value: Any, path: FieldPath, parent: dict, rspec: dict, out: Conversion) -> None:
    if value is None or value == []:
        rspec["httpFault"] = {"abort": {"percent": 100, "httpStatus": 500}}
        return
    if not isinstance(value, list):
        out.problem(path, "must be a list")
        return
    routes, weights = [], []
    for i, ref in enumerate(value):
        at = path + (i,)
        if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
            out.problem(at, "must be a mapping with name")
            return
        backend = _service_ref(ref, at, parent.get("namespace"), out,
                               wrong_kind="backends are Services", also=("weight",))
        if backend is None:
            return
        weight = ref.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            out.problem(at + ("weight",), "must be an integer, 0 or more")
            return
        same = backend["name"] == parent["name"] and \
            backend.get("namespace") == parent.get("namespace")
        routes.append({} if same else {"destination": backend})
        weights.append(weight)
    if sum(weights) == 0:
        rspec["httpFault"] = {"abort": {"percent": 100, "httpStatus": 500}}
        return
    for route, pct in zip(routes, normalise_weights(weights)):
        if pct:
            route["weight"] = pct
    kept = [r for r in routes if r.get("weight")]
    rspec["route"] = kept if len(kept) > 1 else [{k: v for k, v in kept[0].items()
                                                  if k != "weight"}]


def _filters(value: Any, path: FieldPath, parent: dict, rspec: dict, out: Conversion,
             grpc: bool = False) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        out.problem(path, "must be a list")
        return
    configs = {"RequestHeaderModifier": "requestHeaderModifier", "RequestRedirect": "requestRedirect",
               "ResponseHeaderModifier": "responseHeaderModifier", "URLRewrite": "urlRewrite",
               "RequestMirror": "requestMirror"}
    for i, f in enumerate(value):
        at = path + (i,)
        kind = f.get("type") if isinstance(f, dict) else None
        if grpc and kind in ("RequestRedirect", "URLRewrite"):  # HTTPRoute's only
            out.unsupported(at + ("type",), f"GRPCRoute has no {kind} filter")
            continue
        if kind in configs:
            _only(f, at, ("type", configs[kind]), out)
        if kind in ("RequestHeaderModifier", "ResponseHeaderModifier"):
            key = "requestHeaderModifier" if kind == "RequestHeaderModifier" \
                else "responseHeaderModifier"
            native = "requestHeaders" if kind == "RequestHeaderModifier" else "responseHeaders"
            rspec[native] = _header_ops(f.get(key), at + (key,), out)
        elif kind in ("RequestRedirect", "URLRewrite"):
            key = "requestRedirect" if kind == "RequestRedirect" else "urlRewrite"
            native = "redirect" if kind == "RequestRedirect" else "rewrite"
            rspec[native] = _rewrite(f.get(key), at + (key,), kind, out)
            if native == "redirect":
                rspec.pop("route", None)
                rspec.pop("httpFault", None)
        elif kind == "RequestMirror":
            mirror = _mirror(f.get("requestMirror"), at + ("requestMirror",), parent, out)
            if mirror:
                rspec["mirror"] = mirror
        else:
            out.unsupported(at + ("type",), f"{kind!r} filters do not convert")


def _mirror(value: Any, path: FieldPath, parent: dict, out: Conversion) -> dict | None:
    """requestMirror {backendRef: a Service} -> the native mirror: every request is copied
    (percent 100 or fraction 1/1 say the same; a smaller share has no native equivalent)."""
    if not isinstance(value, dict):
        out.problem(path, "must be a mapping with backendRef")
        return None
    for key, v in value.items():
        whole = (key == "percent" and v == 100) or (
            key == "fraction" and isinstance(v, dict) and v.get("numerator") is not None
            and v.get("numerator") == v.get("denominator", 100))
        if key != "backendRef" and not whole:
            out.unsupported(path + (key,), "every request is mirrored")
    ref = value.get("backendRef")
    at = path + ("backendRef",)
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
        out.problem(at, "needs a Service name")
        return None
    return _service_ref(ref, at, parent.get("namespace"), out, wrong_kind="mirrors are Services")


def _header_ops(value: Any, path: FieldPath, out: Conversion) -> dict:
    """A header modifier ({set: [{name, value}], add: [...], remove: [name]}) -> the native
    {set: {name: value}, add: {...}, remove: [name]}; the native checks see the names."""
    if not isinstance(value, dict):
        out.problem(path, "must be a mapping")
        return {}
    ops: dict[str, Any] = {}
    for op, items in value.items():
        if op in ("set", "add"):
            pairs = {}
            for i, h in enumerate(items if isinstance(items, list) else [None]):
                if not isinstance(h, dict) or not isinstance(h.get("name"), str) \
                        or not isinstance(h.get("value"), str):
                    out.problem(path + (op, i), "needs name and value")
                else:
                    _only(h, path + (op, i), ("name", "value"), out)
                    pairs[h["name"]] = h["value"]
            ops[op] = pairs
        elif op == "remove":
            ops[op] = items
        else:
            out.unsupported(path + (op,))
    return ops


def _rewrite(value: Any, path: FieldPath, kind: str, out: Conversion) -> dict:
    result: dict[str, Any] = {"redirectCode": 302} if kind == "RequestRedirect" else {}
    if not isinstance(value, dict):
        out.problem(path, "must be a mapping")
        return result
    for key, v in value.items():
        if key == "hostname" and isinstance(v, str):
            result["authority"] = v
        elif key == "path" and isinstance(v, dict):
            allowed = ("ReplaceFullPath",) if kind == "RequestRedirect" else (
                "ReplaceFullPath", "ReplacePrefixMatch")
            ptype = v.get("type")
            field = "replaceFullPath" if ptype == "ReplaceFullPath" else "replacePrefixMatch"
            if ptype not in allowed or not isinstance(v.get(field), str):
                out.unsupported(path + ("path",), f"path types {', '.join(allowed)} convert")
            else:
                result["uri"] = v[field]
        elif key == "statusCode" and kind == "RequestRedirect" and v in (301, 302):
            result["redirectCode"] = v  # the Gateway API's default is 302
        else:
            out.unsupported(path + (key,))
    if kind == "RequestRedirect" and not result.keys() - {"redirectCode"}:
        out.problem(path, "needs hostname or path (a redirect to the same URL would loop)")
    return result


def _timeouts(rule: dict, base: FieldPath, rspec: dict, out: Conversion) -> None:
    timeouts = rule.get("timeouts")
    if timeouts is not None and not isinstance(timeouts, dict):
        out.problem(base + ("timeouts",), "must be a mapping with request and backendRequest")
    request = backend = None
    if isinstance(timeouts, dict):
        for key, value in timeouts.items():
            if key not in ("request", "backendRequest"):
                out.unsupported(base + ("timeouts", key))
            elif _seconds(value) is None:
                out.problem(base + ("timeouts", key), "must be a duration such as \"10s\"")
        request, backend = _limit(timeouts.get("request")), _limit(timeouts.get("backendRequest"))
    retry = rule.get("retry")
    if backend and retry is None and (request is None or _seconds(backend) < _seconds(request)):
        request = backend  # one try: the shorter of the two limits it
    if request:
        rspec["httpReqTimeout"] = {"simpleTimeout": {"timeout": request}}
    if isinstance(retry, dict):
        simple: dict[str, Any] = {}
        for key, value in retry.items():
            if key in ("attempts", "codes", "backoff"):
                simple[key] = value  # the same meaning in both APIs
            else:
                out.unsupported(base + ("retry", key))
        simple.setdefault("attempts", 1)  # the field is optional in the Gateway API
        if backend:
            simple["perTryTimeout"] = backend
        rspec["httpReqRetries"] = {"simpleRetry": simple}


def _seconds(value: Any) -> float | None:
    try:
        return parse_duration(value)
    except ValueError:
        return None


def _limit(value: Any) -> str | None:
    """A timeout as written, or None when absent or zero ("0s" disables it, as the Gateway API
    says)."""
    return value if _seconds(value) else None
