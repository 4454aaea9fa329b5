"""Checks of rule specs that a JSON Schema cannot express, each with its own message.

`check(kind, spec)` expects a spec that already passed the schema (the loader runs the
schema first) but never raises on an odd shape: a check that finds something it does
not understand skips it. Paths are from the manifest root, e.g. ("spec", "route", 1,
"weight"), like those of `meshtool.rules.schema.validate`.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator

from meshtool.model.durations import parse_duration
from meshtool.model.hosts import is_ip_pattern
from meshtool.model.kinds import DESTINATION_POLICY, EGRESS_RULE, ROUTE_RULE

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

TCP_PROTOCOLS = ("tcp", "mongo")
_HOST_LABEL = re.compile(r"^[a-z0-9_]([-a-z0-9_]*[a-z0-9_])?\Z", re.IGNORECASE)

SPEC: FieldPath = ("spec",)


def check(kind: str, spec: Any) -> list[Problem]:
    """Every semantic problem of one rule spec; empty when there is none."""
    checks = _CHECKS.get(kind, ())
    if not isinstance(spec, dict):
        return []
    out: list[Problem] = []
    for fn in checks:
        out.extend(fn(spec))
    return out


# --- RouteRule -----------------------------------------------------------------------

def route_weights(spec: dict) -> Iterator[Problem]:
    """Weights total 100; a single route without a weight counts as 100."""
    routes = spec.get("route")
    if not isinstance(routes, list) or not routes:
        return
    if len(routes) == 1 and _get(routes[0], "weight") is None:
        return
    total = 0
    for i, route in enumerate(routes):
        weight = _get(route, "weight")
        if weight is None:
            yield (SPEC + ("route", i, "weight")), \
                "a weight is required when there is more than one route"
            return
        if _is_number(weight):
            total += weight
    if total != 100:
        yield (SPEC + ("route", len(routes) - 1, "weight")), f"weights sum to {total}, must be 100"


def redirect_exclusive(spec: dict) -> Iterator[Problem]:
    """A redirected request goes nowhere else: no route, no fault, no rewrite."""
    if "redirect" not in spec:
        return
    for other, why in (("route", "route and redirect are exclusive: a redirected request is "
                                 "answered, not routed"),
                       ("httpFault", "httpFault and redirect are exclusive: a redirected request "
                                     "is answered before any fault"),
                       ("rewrite", "rewrite and redirect are exclusive: use redirect.uri or "
                                   "redirect.authority")):
        if other in spec:
            yield (SPEC + (other,)), why


def route_durations(spec: dict) -> Iterator[Problem]:
    yield from _durations(spec, [
        ("httpReqTimeout", "simpleTimeout", "timeout"),
        ("httpReqRetries", "simpleRetry", "perTryTimeout"),
        ("httpFault", "delay", "fixedDelay"),
        ("corsPolicy", "maxAge"),
    ])


def header_names_lowercase(spec: dict) -> Iterator[Problem]:
    headers = _get(spec, "match", "request", "headers")
    if not isinstance(headers, dict):
        return
    for name in headers:
        if isinstance(name, str) and name != name.lower():
            yield (SPEC + ("match", "request", "headers", name)), \
                f"header name {name!r} must be lowercase ({name.lower()!r})"


def regexes_compile(spec: dict) -> Iterator[Problem]:
    headers = _get(spec, "match", "request", "headers")
    if not isinstance(headers, dict):
        return
    for name, cond in headers.items():
        pattern = _get(cond, "regex")
        if not isinstance(pattern, str):
            continue
        try:
            re.compile(pattern)
        except re.error as exc:
            yield (SPEC + ("match", "request", "headers", name, "regex")), \
                f"invalid regular expression {pattern!r}: {exc}"


def route_percentages(spec: dict) -> Iterator[Problem]:
    routes = spec.get("route")
    if isinstance(routes, list):
        for i, route in enumerate(routes):
            yield from _percent(_get(route, "weight"), SPEC + ("route", i, "weight"))
    for part in ("delay", "abort"):
        yield from _percent(_get(spec, "httpFault", part, "percent"),
                            SPEC + ("httpFault", part, "percent"))


# --- EgressRule ----------------------------------------------------------------------

def egress_unique_ports(spec: dict) -> Iterator[Problem]:
    ports = spec.get("ports")
    if not isinstance(ports, list):
        return
    first: dict[Any, int] = {}
    for i, entry in enumerate(ports):
        port = _get(entry, "port")
        if port is None or isinstance(port, (dict, list)):
            continue
        if port in first:
            yield (SPEC + ("ports", i, "port")), \
                f"port {port} is listed twice (first at spec.ports[{first[port]}])"
        else:
            first[port] = i


def egress_destination(spec: dict) -> Iterator[Problem]:
    """The host pattern's form; IP/CIDR destinations only with TCP-type protocols."""
    service = _get(spec, "destination", "service")
    if not isinstance(service, str):
        return
    path = SPEC + ("destination", "service")
    if is_ip_pattern(service):
        ports = spec.get("ports")
        for i, entry in enumerate(ports if isinstance(ports, list) else []):
            protocol = _get(entry, "protocol")
            if isinstance(protocol, str) and protocol.lower() not in TCP_PROTOCOLS:
                yield (SPEC + ("ports", i, "protocol")), \
                    (f"an IP or CIDR destination ({service}) allows only TCP-type protocols "
                     f"({', '.join(TCP_PROTOCOLS)}), not {protocol}")
        return
    if not valid_host_pattern(service):
        yield path, (f"{service!r} is not a host: use an exact name (msgd.example.com), "
                     f"a wildcard (*.example.com), * or an IP/CIDR (10.0.0.0/8)")


def valid_host_pattern(pattern: str) -> bool:
    if pattern == "*":
        return True
    name = pattern[2:] if pattern.startswith("*.") else pattern
    labels = name.rstrip(".").split(".")
    return bool(name) and len(name) <= 253 and all(_HOST_LABEL.match(lbl) for lbl in labels)


# --- DestinationPolicy ---------------------------------------------------------------

def policy_durations(spec: dict) -> Iterator[Problem]:
    yield from _durations(spec, [
        ("circuitBreaker", "simpleCb", "sleepWindow"),
        ("circuitBreaker", "simpleCb", "httpDetectionInterval"),
    ])


def policy_percentages(spec: dict) -> Iterator[Problem]:
    path = ("circuitBreaker", "simpleCb", "httpMaxEjectionPercent")
    yield from _percent(_get(spec, *path), SPEC + path)


# --- helpers -------------------------------------------------------------------------

def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _durations(spec: dict, paths: list[tuple[str, ...]]) -> Iterator[Problem]:
    for path in paths:
        value = _get(spec, *path)
        if value is None:
            continue
        try:
            parse_duration(value)
        except ValueError as exc:
            yield (SPEC + path), str(exc)


def _percent(value: Any, path: FieldPath) -> Iterator[Problem]:
    if _is_number(value) and not 0 <= value <= 100:
        yield path, f"percentage {value} is outside 0..100"


_CHECKS: dict[str, tuple[Callable[[dict], Iterator[Problem]], ...]] = {
    ROUTE_RULE: (route_weights, redirect_exclusive, route_durations, header_names_lowercase,
                 regexes_compile, route_percentages),
    EGRESS_RULE: (egress_unique_ports, egress_destination),
    DESTINATION_POLICY: (policy_durations, policy_percentages),
}
