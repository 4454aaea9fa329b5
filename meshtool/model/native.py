"""The parser of native (config.meshtool.io/v1alpha1) specs into the typed model, with every
semantic check of a rule: the one place a rule spec is understood.

`parse(kind, namespace, name, spec)` returns a `Parsed` with the model value (None when there are
problems) and the problems, each a (path from the manifest root, message). It never raises on an
odd shape: validate runs the JSON Schema first and reports its findings instead, while the sidecar
(which has no schema library) relies on the type checks here for its NACK. Foreign APIs reach the
model through their converters (meshtool.model.convert), which produce native specs parsed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from meshtool.model import types as t
from meshtool.model.durations import parse_duration
from meshtool.model.hosts import is_ip_pattern
from meshtool.model.kinds import (ACCESS_POLICY, DESTINATION_POLICY, EGRESS_RULE, GATEWAY_ROUTE,
                                  MTLS_POLICY, ROUTE_RULE)
from meshtool.model.paths import FieldPath, Problem

SPEC: FieldPath = ("spec",)
_HOST_LABEL = re.compile(r"^[a-z0-9_]([-a-z0-9_]*[a-z0-9_])?\Z", re.IGNORECASE)
# simpleCb field -> (CircuitBreaker attribute, is a duration)
_BREAKER_FIELDS = {
    "maxConnections": ("max_connections", False),
    "httpMaxPendingRequests": ("http_max_pending_requests", False),
    "httpMaxRequests": ("http_max_requests", False),
    "httpConsecutiveErrors": ("http_consecutive_errors", False),
    "httpMaxRequestsPerConnection": ("http_max_requests_per_connection", False),
    "httpMaxEjectionPercent": ("http_max_ejection_percent", False),
    "httpMaxRetries": ("http_max_retries", False),
    "sleepWindow": ("sleep_window", True),
    "httpDetectionInterval": ("http_detection_interval", True),
}


@dataclass
class Parsed:
    value: t.Rule | None
    problems: list[Problem] = field(default_factory=list)


class _Reader:
    """Collects problems while reading fields of one spec."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: FieldPath, message: str) -> None:
        self.problems.append((SPEC + tuple(path), message))

    def mapping(self, value: Any, path: FieldPath) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(path, "must be a mapping")
            return {}
        return value

    def list(self, value: Any, path: FieldPath) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(path, "must be a list")
            return []
        return value

    def strings(self, value: Any, path: FieldPath) -> tuple[str, ...]:
        items = self.list(value, path)
        if not all(isinstance(v, str) for v in items):
            self.add(path, "must be a list of strings")
            return ()
        return tuple(items)

    def labels(self, value: Any, path: FieldPath) -> dict[str, str]:
        out = {}
        for k, v in self.mapping(value, path).items():
            if not isinstance(v, str):
                self.add(path + (k,), "must be a string")
            else:
                out[str(k)] = v
        return out

    def integer(self, value: Any, path: FieldPath, lo: int = 0, hi: int | None = None) -> int | None:
        if not _is_int(value):
            self.add(path, f"must be an integer, got {value!r}")
            return None
        if value < lo or (hi is not None and value > hi):
            self.add(path, f"{value} is outside {lo}..{hi if hi is not None else ''}")
            return None
        return value

    def percent(self, value: Any, path: FieldPath) -> float:
        if value is None:
            return 100.0
        if not _is_number(value):
            self.add(path, f"must be a number, got {value!r}")
            return 0.0
        if not 0 <= value <= 100:
            self.add(path, f"percentage {value} is outside 0..100")
            return 0.0
        return float(value)

    def duration(self, value: Any, path: FieldPath) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.add(path, str(exc))
            return 0.0

    def service(self, value: Any, path: FieldPath, namespace: str) -> t.ServiceRef | None:
        dest = self.mapping(value, path)
        name = dest.get("name")
        if not isinstance(name, str) or not name:
            self.add(path + ("name",), "required: a non-empty string")
            return None
        ns = dest.get("namespace")
        return t.ServiceRef(ns if isinstance(ns, str) and ns else namespace, name)

    def source(self, value: Any, path: FieldPath) -> t.SourceMatch | None:
        if not value:
            return None
        src = self.mapping(value, path)
        name = src.get("name")
        if not isinstance(name, str) or not name:
            self.add(path + ("name",), "required: a non-empty string")
            return None
        return t.SourceMatch(name, self.labels(src.get("labels"), path + ("labels",)))


def parse(kind: str, namespace: str, name: str, spec: Any) -> Parsed:
    """The model value of one native rule and its problems."""
    reader = _Reader()
    parser = _PARSERS.get(kind)
    if parser is None:
        return Parsed(None, [(("kind",), f"must be {ROUTE_RULE}, {EGRESS_RULE}, "
                                         f"{DESTINATION_POLICY}, {MTLS_POLICY} or "
                                         f"{ACCESS_POLICY}")])
    if not isinstance(spec, dict):
        return Parsed(None, [(SPEC, "must be a mapping")])
    try:
        value = parser(reader, namespace, name, spec)
    except (TypeError, AttributeError, ValueError) as exc:  # an odd shape no check foresaw
        reader.add((), f"cannot be read: {exc}")
        value = None
    return Parsed(None if reader.problems else value, reader.problems)


# --- RouteRule -----------------------------------------------------------------------

def _route(r: _Reader, namespace: str, name: str, spec: dict) -> t.Route | None:
    destination = r.service(spec.get("destination"), ("destination",), namespace)
    precedence = spec.get("precedence", 0)
    precedence = r.integer(precedence, ("precedence",), 0, 2**31 - 1) or 0
    match = r.mapping(spec.get("match"), ("match",))
    source = r.source(match.get("source"), ("match", "source"))
    request = r.mapping(match.get("request"), ("match", "request"))
    headers = _request_conditions(r, request, ("match", "request"))
    split = _split(r, spec.get("route"), namespace)
    if "redirect" in spec:
        for other, why in (("route", "route and redirect are exclusive: a redirected request is "
                                     "answered, not routed"),
                           ("httpFault", "httpFault and redirect are exclusive: a redirected "
                                         "request is answered before any fault"),
                           ("rewrite", "rewrite and redirect are exclusive: use redirect.uri or "
                                       "redirect.authority")):
            if other in spec:
                r.add((other,), why)
    redirect_spec = dict(r.mapping(spec.get("redirect"), ("redirect",)))
    redirect_code = redirect_spec.pop("redirectCode", 301)
    if redirect_code not in REDIRECT_CODES or isinstance(redirect_code, bool):
        r.add(("redirect", "redirectCode"), f"must be one of {', '.join(map(str, REDIRECT_CODES))}")
        redirect_code = 301
    redirect = r.labels(redirect_spec, ("redirect",)) or None
    if "redirect" in spec and not redirect:
        r.add(("redirect",), "needs uri or authority (a redirect to the same URL would loop)")
    rewrite = r.labels(spec.get("rewrite"), ("rewrite",)) or None
    timeout = None
    simple = r.mapping(r.mapping(spec.get("httpReqTimeout"), ("httpReqTimeout",)).get(
        "simpleTimeout"), ("httpReqTimeout", "simpleTimeout"))
    if "timeout" in simple:
        timeout = r.duration(simple["timeout"], ("httpReqTimeout", "simpleTimeout", "timeout"))
    retry = None
    retries = r.mapping(spec.get("httpReqRetries"), ("httpReqRetries",))
    if "simpleRetry" in retries:
        path = ("httpReqRetries", "simpleRetry")
        simple = r.mapping(retries["simpleRetry"], path)
        attempts = r.integer(simple.get("attempts", 1), path + ("attempts",)) or 0
        per_try = (r.duration(simple["perTryTimeout"], path + ("perTryTimeout",))
                   if "perTryTimeout" in simple else None)
        codes = None
        if "codes" in simple:
            codes = frozenset(c for i, c in enumerate(r.list(simple["codes"], path + ("codes",)))
                              if r.integer(c, path + ("codes", i), 400, 599) is not None)
        backoff = (r.duration(simple["backoff"], path + ("backoff",))
                   if "backoff" in simple else None)
        retry = t.Retry(attempts, per_try, codes, backoff or None)
    fault = r.mapping(spec.get("httpFault"), ("httpFault",))
    delay = abort = None
    if fault.get("delay"):
        d = r.mapping(fault["delay"], ("httpFault", "delay"))
        delay = t.Delay(r.percent(d.get("percent"), ("httpFault", "delay", "percent")),
                        r.duration(d.get("fixedDelay"), ("httpFault", "delay", "fixedDelay")))
    if fault.get("abort"):
        a = r.mapping(fault["abort"], ("httpFault", "abort"))
        status = r.integer(a.get("httpStatus"), ("httpFault", "abort", "httpStatus"), 200, 599)
        abort = t.Abort(r.percent(a.get("percent"), ("httpFault", "abort", "percent")),
                        status or 0)
    mirror = None
    if spec.get("mirror"):
        ref = r.service(spec["mirror"], ("mirror",), namespace)
        labels = r.labels(r.mapping(spec["mirror"], ("mirror",)).get("labels"), ("mirror", "labels"))
        mirror = t.Mirror(ref, labels) if ref else None
    cors = _cors(r, spec.get("corsPolicy")) if spec.get("corsPolicy") else None
    append = r.mapping(spec.get("appendHeaders"), ("appendHeaders",))
    request_ops = _header_ops(r, spec.get("requestHeaders"), ("requestHeaders",))
    response_ops = _header_ops(r, spec.get("responseHeaders"), ("responseHeaders",))
    if destination is None:
        return None
    return t.Route(namespace, name, destination, precedence, source, headers, split,
                   redirect=redirect, redirect_code=redirect_code, rewrite=rewrite, timeout=timeout, retry=retry, delay=delay,
                   abort=abort, mirror=mirror, cors=cors,
                   append_headers={str(k): str(v) for k, v in append.items()},
                   request_headers=request_ops, response_headers=response_ops)


REDIRECT_CODES = (301, 302, 303, 307, 308)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP token (RFC 9110)


def _header_ops(r: _Reader, value: Any, path: FieldPath) -> t.HeaderOps | None:
    """{set: {name: value}, add: {name: value}, remove: [name]}; names lower-cased."""
    if value is None:
        return None
    ops = r.mapping(value, path)
    found: dict[str, Any] = {"set": {}, "add": {}, "remove": ()}
    for key, item in ops.items():
        at = path + (key,)
        if key in ("set", "add"):
            for name, text in r.mapping(item, at).items():
                if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                    r.add(at + (name,), "must be a header name")
                elif not isinstance(text, str):
                    r.add(at + (name,), "must be a string")
                else:
                    found[key][name.lower()] = text
        elif key == "remove":
            if not isinstance(item, list) or not all(isinstance(n, str) and
                                                     _HEADER_NAME.fullmatch(n) for n in item):
                r.add(at, "must be a list of header names")
            else:
                found["remove"] = tuple(n.lower() for n in item)
        else:
            r.add(at, "unknown field: set, add and remove are known")
    return t.HeaderOps(found["set"], found["add"], found["remove"])


def request_match(spec: Any) -> tuple[t.SourceMatch | None, tuple[t.HeaderMatch, ...]]:
    """Only the match of a RouteRule spec, read as leniently as it can be (for analysis, which
    reasons about matches of rules that may have other problems)."""
    r = _Reader()
    match = r.mapping(spec.get("match") if isinstance(spec, dict) else None, ("match",))
    request = r.mapping(match.get("request"), ("match", "request"))
    return (r.source(match.get("source"), ("match", "source")),
            _request_conditions(r, request, ("match", "request")))


def _cors(r: _Reader, value: Any) -> t.Cors:
    policy = r.mapping(value, ("corsPolicy",))
    lists = {}
    for key in ("allowOrigin", "allowMethods", "allowHeaders", "exposeHeaders"):
        items = policy.get(key) or []
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            r.add(("corsPolicy", key), "must be a list of strings")
            items = []
        lists[key] = tuple(items)
    max_age = (r.duration(policy["maxAge"], ("corsPolicy", "maxAge"))
               if "maxAge" in policy else None)
    return t.Cors(lists["allowOrigin"], lists["allowMethods"], lists["allowHeaders"],
                  lists["exposeHeaders"], max_age, policy.get("allowCredentials") is True)


def _request_conditions(r: _Reader, request: dict, path: FieldPath) -> tuple[t.HeaderMatch, ...]:
    """match.request: header conditions, then query parameter ones."""
    return (_headers(r, request.get("headers"), path + ("headers",))
            + _query(r, request.get("queryParams"), path + ("queryParams",)))


def _headers(r: _Reader, value: Any, path: FieldPath) -> tuple[t.HeaderMatch, ...]:
    out = []
    for header, cond in r.mapping(value, path).items():
        at = path + (header,)
        if isinstance(header, str) and header != header.lower():
            r.add(at, f"header name {header!r} must be lowercase ({header.lower()!r})")
        found = _condition(r, cond, at, t.MATCH_KINDS)
        if found is not None:
            out.append(t.HeaderMatch(str(header).lower(), *found))
    return tuple(out)


def _query(r: _Reader, value: Any, path: FieldPath) -> tuple[t.HeaderMatch, ...]:
    """Query parameter conditions (exact or regex), as HeaderMatch named QUERY + parameter."""
    out = []
    for name, cond in r.mapping(value, path).items():
        found = _condition(r, cond, path + (name,), (t.EXACT, t.REGEX))
        if found is not None:
            out.append(t.HeaderMatch(t.QUERY + str(name), *found))
    return tuple(out)


def _condition(r: _Reader, cond: Any, at: FieldPath,
               kinds: tuple[str, ...]) -> tuple[str, str] | None:
    """{kind: text} with exactly one of `kinds`, a regex compiled to check it; None if bad."""
    if not isinstance(cond, dict) or len(cond) != 1 or next(iter(cond)) not in kinds:
        r.add(at, f"must have exactly one of {', '.join(kinds)}")
        return None
    kind, text = next(iter(cond.items()))
    if not isinstance(text, str):
        r.add(at + (kind,), "must be a string")
        return None
    if kind == t.REGEX:
        try:
            re.compile(text)
        except re.error as exc:
            r.add(at + (kind,), f"invalid regular expression {text!r}: {exc}")
    return kind, text


def _split(r: _Reader, routes: Any, namespace: str) -> tuple[t.WeightedSubset, ...]:
    """Weights total 100; a single route without a weight counts as 100."""
    if routes is None or routes == []:
        return (t.WeightedSubset({}, 100),)
    if not isinstance(routes, list):
        r.add(("route",), "must be a list")
        return ()
    out, total, missing = [], 0, False
    for i, route in enumerate(routes):
        route = r.mapping(route, ("route", i))
        labels = r.labels(route.get("labels"), ("route", i, "labels"))
        weight = route.get("weight")
        if weight is None:
            if len(routes) > 1 and not missing:
                r.add(("route", i, "weight"), "a weight is required when there is more than "
                                              "one route")
                missing = True
            weight = 100 if len(routes) == 1 else 0
        elif not _is_number(weight):
            r.add(("route", i, "weight"), f"must be an integer, got {weight!r}")
            continue
        elif not 0 <= weight <= 100:
            r.add(("route", i, "weight"), f"percentage {weight} is outside 0..100")
        elif not _is_int(weight):
            r.add(("route", i, "weight"), f"must be an integer, got {weight!r}")
        total += weight
        service = (r.service(route["destination"], ("route", i, "destination"), namespace)
                   if "destination" in route else None)
        out.append(t.WeightedSubset(labels, int(weight), service))
    if not missing and total != 100:
        r.add(("route", len(routes) - 1, "weight"), f"weights sum to {total:g}, must be 100")
    return tuple(out)


# --- EgressRule ----------------------------------------------------------------------

def _egress(r: _Reader, namespace: str, name: str, spec: dict) -> t.Egress | None:
    service = r.mapping(spec.get("destination"), ("destination",)).get("service")
    if not isinstance(service, str) or not service:
        r.add(("destination", "service"), "required: a non-empty string")
        return None
    if not is_ip_pattern(service) and not valid_host_pattern(service):
        r.add(("destination", "service"),
              f"{service!r} is not a host: use an exact name (msgd.example.com), "
              f"a wildcard (*.example.com), * or an IP/CIDR (10.0.0.0/8)")
    ports = spec.get("ports")
    if not ports:
        return t.Egress(namespace, name, service, None)
    if not isinstance(ports, list):
        r.add(("ports",), "must be a list")
        return None
    out: list[t.EgressPort] = []
    first: dict[int, int] = {}
    for i, entry in enumerate(ports):
        entry = r.mapping(entry, ("ports", i))
        port = r.integer(entry.get("port"), ("ports", i, "port"), 1, 65535)
        if port is None:
            continue
        if port in first:
            r.add(("ports", i, "port"), f"port {port} is listed twice (first at "
                                        f"spec.ports[{first[port]}])")
            continue
        first[port] = i
        protocol = entry.get("protocol", "http")
        if not isinstance(protocol, str):
            r.add(("ports", i, "protocol"), "must be a string")
            continue
        out.append(t.EgressPort(port, protocol.lower()))
    return t.Egress(namespace, name, service, tuple(out))


def valid_host_pattern(pattern: str) -> bool:
    if pattern == "*":
        return True
    host = pattern[2:] if pattern.startswith("*.") else pattern
    labels = host.rstrip(".").split(".")
    return bool(host) and len(host) <= 253 and all(_HOST_LABEL.match(lbl) for lbl in labels)


# --- DestinationPolicy ---------------------------------------------------------------

def _policy(r: _Reader, namespace: str, name: str, spec: dict) -> t.Policy | None:
    destination = r.service(spec.get("destination"), ("destination",), namespace)
    labels = r.labels(r.mapping(spec.get("destination"), ("destination",)).get("labels"),
                      ("destination", "labels"))
    source = r.source(spec.get("source"), ("source",))
    balancing = r.mapping(spec.get("loadBalancing"), ("loadBalancing",))
    lb = balancing.get("name", "ROUND_ROBIN")
    if lb not in t.LB_METHODS:
        r.add(("loadBalancing", "name"), f"must be one of {', '.join(t.LB_METHODS)}")
    locality = _locality(r, balancing.get("locality"), ("loadBalancing", "locality"))
    breaker = None
    path = ("circuitBreaker", "simpleCb")
    cb = r.mapping(spec.get("circuitBreaker"), ("circuitBreaker",))
    if "simpleCb" in cb:
        values: dict[str, Any] = {}
        for key, value in r.mapping(cb["simpleCb"], path).items():
            known = _BREAKER_FIELDS.get(key)
            if known is None:
                r.add(path + (key,), "unknown field")
            elif known[1]:
                values[known[0]] = r.duration(value, path + (key,))
            elif key == "httpMaxEjectionPercent" and _is_number(value) and not 0 <= value <= 100:
                r.add(path + (key,), f"percentage {value} is outside 0..100")
            else:
                values[known[0]] = r.integer(value, path + (key,))
        breaker = t.CircuitBreaker(**values)
    tls = r.mapping(spec.get("tls"), ("tls",)).get("mode")
    if tls is not None and tls not in t.CLIENT_TLS_MODES:
        r.add(("tls", "mode"), f"must be one of {', '.join(t.CLIENT_TLS_MODES)}")
    if destination is None:
        return None
    health = _health_check(r, spec.get("healthCheck"), ("healthCheck",))
    return t.Policy(namespace, name, destination, labels, source, lb, breaker, locality, health,
                    tls)


_HEALTH_FIELDS = ("interval", "timeout", "unhealthyThreshold", "healthyThreshold", "http", "tcp")


def _health_check(r: _Reader, value: Any, path: FieldPath) -> t.HealthCheck | None:
    if value is None:
        return None
    spec = r.mapping(value, path)
    for key in spec:
        if key not in _HEALTH_FIELDS:
            r.add(path + (key,), "unknown field")
    values: dict[str, Any] = {}
    for key, attr in (("interval", "interval"), ("timeout", "timeout")):
        if key in spec:
            before = len(r.problems)
            seconds = r.duration(spec[key], path + (key,))
            if len(r.problems) == before and seconds <= 0:
                r.add(path + (key,), "must be longer than 0s")
            values[attr] = seconds
    for key, attr in (("unhealthyThreshold", "unhealthy_threshold"),
                      ("healthyThreshold", "healthy_threshold")):
        if key in spec:
            values[attr] = r.integer(spec[key], path + (key,), lo=1)
    if "http" in spec and "tcp" in spec:
        r.add(path, "give http or tcp, not both")
    http = r.mapping(spec.get("http"), path + ("http",))
    if "http" in spec:
        for key in http:
            if key not in ("path", "expectedStatuses"):
                r.add(path + ("http", key), "unknown field")
        probe_path = http.get("path", "/")
        if not isinstance(probe_path, str) or not probe_path.startswith("/"):
            r.add(path + ("http", "path"), "must be a path starting with /")
        values["http_path"] = probe_path
        statuses = http.get("expectedStatuses", [])
        if not isinstance(statuses, list) or not all(
                _is_int(s) and 100 <= s <= 599 for s in statuses):
            r.add(path + ("http", "expectedStatuses"), "must be a list of HTTP status codes")
        else:
            values["expected_statuses"] = tuple(statuses)
    if spec.get("tcp") not in (None, {}):
        r.add(path + ("tcp",), "takes no fields: a TCP connect is the probe")
    if any(v is None for v in values.values()):
        return None
    return t.HealthCheck(**values)


def _locality(r: _Reader, value: Any, path: FieldPath) -> tuple[str, ...]:
    if value is None:
        return ()
    setting = r.mapping(value, path)
    for key in setting:
        if key not in ("enabled", "failoverPriority"):
            r.add(path + (key,), "unknown field")
    enabled = setting.get("enabled", True)
    if not isinstance(enabled, bool):
        r.add(path + ("enabled",), "must be true or false")
    labels = setting.get("failoverPriority", list(t.DEFAULT_FAILOVER_PRIORITY))
    if not isinstance(labels, list) or not labels or not all(
            isinstance(lbl, str) and lbl for lbl in labels):
        r.add(path + ("failoverPriority",), "must be a non-empty list of label names")
        return ()
    return tuple(labels) if enabled is True else ()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mtls_policy(r: _Reader, namespace: str, name: str, spec: dict) -> t.PeerAuth | None:
    selector = _selector(r, spec)
    mode = spec.get("mode")
    if mode is not None and mode not in t.PEER_MODES:
        r.add(("mode",), f"must be one of {', '.join(t.PEER_MODES)}")
    ports: dict[int, str] = {}
    for i, entry in enumerate(r.list(spec.get("ports"), ("ports",))):
        entry = r.mapping(entry, ("ports", i))
        port, pmode = entry.get("port"), entry.get("mode")
        if not _is_int(port) or not 0 < port < 65536:
            r.add(("ports", i, "port"), "must be a port number (1..65535)")
        elif pmode not in t.PEER_MODES:
            r.add(("ports", i, "mode"), f"must be one of {', '.join(t.PEER_MODES)}")
        else:
            ports[port] = pmode
    return t.PeerAuth(namespace, name, selector, mode, ports)


def _access_policy(r: _Reader, namespace: str, name: str, spec: dict) -> t.Access | None:
    selector = _selector(r, spec)
    action = spec.get("action", "ALLOW")
    if action not in t.ACCESS_ACTIONS:
        r.add(("action",), f"must be one of {', '.join(t.ACCESS_ACTIONS)}")
    rules = []
    for i, rule in enumerate(r.list(spec.get("rules"), ("rules",))):
        path = ("rules", i)
        rule = r.mapping(rule, path)
        sources = tuple(t.AccessSource(**{
            attr: r.strings(src.get(key), path + ("from", j, key))
            for key, attr in (("principals", "principals"), ("notPrincipals", "not_principals"),
                              ("namespaces", "namespaces"), ("notNamespaces", "not_namespaces"))})
            for j, src in ((j, r.mapping(s, path + ("from", j)))
                           for j, s in enumerate(r.list(rule.get("from"), path + ("from",)))))
        operations = []
        for j, op in enumerate(r.list(rule.get("to"), path + ("to",))):
            op = r.mapping(op, path + ("to", j))
            values = {attr: r.strings(op.get(key), path + ("to", j, key)) for key, attr in (
                ("methods", "methods"), ("notMethods", "not_methods"), ("paths", "paths"),
                ("notPaths", "not_paths"))}
            for key, attr in (("ports", "ports"), ("notPorts", "not_ports")):
                ports = r.list(op.get(key), path + ("to", j, key))
                if not all(_is_int(p) and 0 < p < 65536 for p in ports):
                    r.add(path + ("to", j, key), "must be a list of port numbers")
                    ports = []
                values[attr] = tuple(ports)
            operations.append(t.AccessOperation(**values))
        conditions = []
        for j, cond in enumerate(r.list(rule.get("when"), path + ("when",))):
            cond = r.mapping(cond, path + ("when", j))
            header = cond.get("header")
            if not isinstance(header, str) or not header:
                r.add(path + ("when", j, "header"), "a header name is required")
                continue
            conditions.append(t.HeaderCondition(
                header.lower(), r.strings(cond.get("values"), path + ("when", j, "values")),
                r.strings(cond.get("notValues"), path + ("when", j, "notValues"))))
        rules.append(t.AccessRule(sources, tuple(operations), tuple(conditions)))
    return t.Access(namespace, name, selector, action, tuple(rules))


def _selector(r: _Reader, spec: dict) -> t.WorkloadSelector | None:
    if spec.get("destination") is None:
        return None
    dest = r.mapping(spec.get("destination"), ("destination",))
    name = dest.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        r.add(("destination", "name"), "must be a service name")
        name = None
    labels = r.labels(dest.get("labels"), ("destination", "labels"))
    return t.WorkloadSelector(name, labels or {})




# --- GatewayRoute (compiled from Ingress, Gateway API and Istio gateway routes) -----------

def _gateway_route(r: _Reader, namespace: str, name: str, spec: dict) -> t.GatewayRoute | None:
    hosts = spec.get("hosts") or []
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        r.add(("hosts",), "must be a list of host names")
        hosts = []
    for i, host in enumerate(hosts):
        if host == "*" or not valid_host_pattern(host):
            r.add(("hosts", i), f"{host!r} is not a host name (exact or *.domain)")
    path = None
    if "path" in spec:
        found = _headers(r, {"uri": spec["path"]}, ())
        path = found[0] if found else None
        if path is not None and path.kind != t.REGEX and not path.value.startswith("/"):
            r.add(("path", path.kind), f"{path.value!r} must start with /")
    rewrite = r.mapping(spec.get("rewrite"), ("rewrite",)).get("prefix")
    if rewrite is not None and (not isinstance(rewrite, str) or not rewrite.startswith("/")):
        r.add(("rewrite", "prefix"), "must be a path starting with /")
    if rewrite is not None and (path is None or path.kind == t.REGEX):
        r.add(("rewrite", "prefix"), "needs an exact or prefix path to replace")
    backends = spec.get("backends")
    if not isinstance(backends, list) or not backends:
        r.add(("backends",), "needs at least one backend service")
        return None
    out, total = [], 0
    for i, b in enumerate(backends):
        b = r.mapping(b, ("backends", i))
        ref = r.service(b.get("service"), ("backends", i, "service"), namespace)
        port = r.integer(b["port"], ("backends", i, "port"), 1, 65535) if "port" in b else None
        weight = r.integer(b.get("weight", 100 if len(backends) == 1 else None),
                           ("backends", i, "weight"), 0, 100) or 0
        total += weight
        if ref is not None:
            out.append(t.GatewayBackend(ref, port, weight))
    if total != 100:
        r.add(("backends",), f"weights sum to {total}, must be 100")
    redirect = spec.get("httpsRedirect", False)
    if not isinstance(redirect, bool):
        r.add(("httpsRedirect",), "must be true or false")
    precedence = r.integer(spec.get("precedence", 0), ("precedence",), -(2**31), 2**31 - 1) or 0
    return t.GatewayRoute(namespace, name, tuple(out), tuple(h.lower() for h in hosts), path,
                          rewrite, redirect is True, precedence)


_PARSERS = {ROUTE_RULE: _route, EGRESS_RULE: _egress, DESTINATION_POLICY: _policy,
            GATEWAY_ROUTE: _gateway_route, MTLS_POLICY: _mtls_policy,
            ACCESS_POLICY: _access_policy}
