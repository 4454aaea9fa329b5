"""RouteRule specs compiled into matchers and choosers the routing addons apply per request."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from meshtool.model.durations import parse_duration
from meshtool.sidecar.balancer import ExactRate, SmoothWeighted


class Problems(list):
    """Every problem of a snapshot, rendered as one NACK text."""

    def add(self, where: str, message: str) -> None:
        self.append(f"{where}: {message}")

    def __str__(self) -> str:
        return "; ".join(self)


def duration(problems: Problems, where: str, path: str, value: Any) -> float:
    """Seconds in a duration field; a problem (and 0) when it does not parse."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        problems.add(where, f"{path}: {exc}")
        return 0.0


@dataclass(frozen=True)
class Matcher:
    name: str  # lower-case header name, or uri, scheme, method, authority (request parts)
    kind: str  # exact | prefix | regex
    value: str
    pattern: re.Pattern | None = None

    def test(self, text: str | None) -> bool:
        if text is None:
            return False
        if self.kind == "exact":
            return text == self.value
        if self.kind == "prefix":
            return text.startswith(self.value)
        return self.pattern.fullmatch(text) is not None  # type: ignore[union-attr]


@dataclass(eq=False)
class CompiledRule:
    name: str  # "namespace/name"
    destination: tuple[str, str]  # (namespace, service)
    precedence: int
    matchers: list[Matcher]
    split: SmoothWeighted
    redirect: dict[str, str] | None = None
    rewrite: dict[str, str] | None = None
    timeout: float | None = None
    retry: tuple[int, float | None] | None = None  # (attempts, per-try timeout)
    delay: tuple[ExactRate, float] | None = None
    abort: tuple[ExactRate, int] | None = None
    mirror: Any = None  # a Subset
    cors: dict[str, Any] | None = None
    append_headers: dict[str, str] = field(default_factory=dict)


def _matchers(problems: Problems, where: str, headers: Any) -> list[Matcher]:
    out = []
    if not isinstance(headers, dict):
        problems.add(where, "spec.match.request.headers: must be a mapping")
        return out
    for name, cond in headers.items():
        path = f"spec.match.request.headers.{name}"
        if not isinstance(cond, dict) or len(cond) != 1 or next(iter(cond)) not in (
                "exact", "prefix", "regex"):
            problems.add(where, f"{path}: must have exactly one of exact, prefix, regex")
            continue
        kind, value = next(iter(cond.items()))
        pattern = None
        if kind == "regex":
            try:
                pattern = re.compile(str(value))
            except re.error as exc:
                problems.add(where, f"{path}.regex: invalid regular expression: {exc}")
                continue
        out.append(Matcher(str(name).lower(), kind, str(value), pattern))
    return out


def _percent(problems: Problems, where: str, path: str, value: Any) -> float:
    if value is None:
        return 100.0
    if not isinstance(value, (int, float)) or not 0 <= value <= 100:
        problems.add(where, f"{path}: must be a number from 0 to 100")
        return 0.0
    return float(value)


def compile_route_rule(problems: Problems, where: str, ns: str, name: str, spec: dict,
                       source_matches: Callable[[dict], bool],
                       subset: Callable[[str, str, dict], Any]) -> CompiledRule | None:
    """None when the rule's source is another workload (it does not apply to this sidecar)."""
    dest = spec.get("destination") or {}
    if not isinstance(dest.get("name"), str) or not dest["name"]:
        problems.add(where, "spec.destination.name: required")
        return None
    dkey = (dest.get("namespace") or ns, dest["name"])
    match = spec.get("match") or {}
    if match.get("source") and not source_matches(match["source"]):
        return None
    matchers = _matchers(problems, where, (match.get("request") or {}).get("headers") or {})
    precedence = spec.get("precedence", 0)
    if not isinstance(precedence, int):
        problems.add(where, "spec.precedence: must be an integer")
    routes = spec.get("route") or [{}]
    items = []
    for j, r in enumerate(routes):
        weight = r.get("weight", 100 if len(routes) == 1 else None) if isinstance(r, dict) else None
        if not isinstance(weight, int) or not 0 <= weight <= 100:
            problems.add(where, f"spec.route[{j}].weight: an integer 0..100 is required "
                                f"when there are several routes")
            continue
        items.append((subset(dkey[0], dkey[1], dict(r.get("labels") or {})), weight))
    if items and sum(w for _, w in items) != 100 and len(items) > 1:
        problems.add(where, f"spec.route: weights must add up to 100, "
                            f"got {sum(w for _, w in items)}")
    rule = CompiledRule(f"{ns}/{name}", dkey, precedence if isinstance(precedence, int) else 0,
                        matchers, SmoothWeighted(items))
    rule.redirect = spec.get("redirect") or None
    rule.rewrite = spec.get("rewrite") or None
    if (t := (spec.get("httpReqTimeout") or {}).get("simpleTimeout")) is not None:
        rule.timeout = duration(problems, where, "spec.httpReqTimeout.simpleTimeout.timeout",
                           t.get("timeout"))
    if (r := (spec.get("httpReqRetries") or {}).get("simpleRetry")) is not None:
        attempts = r.get("attempts", 1)
        if not isinstance(attempts, int) or attempts < 0:
            problems.add(where, "spec.httpReqRetries.simpleRetry.attempts: an integer >= 0")
            attempts = 0
        per_try = r.get("perTryTimeout")
        rule.retry = (attempts, duration(problems, where, "spec.httpReqRetries.simpleRetry"
                                                     ".perTryTimeout", per_try)
                      if per_try is not None else None)
    fault = spec.get("httpFault") or {}
    if d := fault.get("delay"):
        rule.delay = (ExactRate(_percent(problems, where, "spec.httpFault.delay.percent",
                                         d.get("percent"))),
                      duration(problems, where, "spec.httpFault.delay.fixedDelay", d.get("fixedDelay")))
    if a := fault.get("abort"):
        status = a.get("httpStatus")
        if not isinstance(status, int) or not 200 <= status <= 599:
            problems.add(where, "spec.httpFault.abort.httpStatus: an HTTP status 200..599")
        rule.abort = (ExactRate(_percent(problems, where, "spec.httpFault.abort.percent",
                                         a.get("percent"))), status)
    if m := spec.get("mirror"):
        if not isinstance(m.get("name"), str):
            problems.add(where, "spec.mirror.name: required")
        else:
            rule.mirror = subset(m.get("namespace") or ns, m["name"], dict(m.get("labels") or {}))
    rule.cors = spec.get("corsPolicy") or None
    headers = spec.get("appendHeaders") or {}
    if not isinstance(headers, dict):
        problems.add(where, "spec.appendHeaders: must be a mapping")
    else:
        rule.append_headers = {str(k): str(v) for k, v in headers.items()}
    return rule
