"""Routes of the typed model compiled into the matchers and choosers the routing addons apply
per request. Checking happens before, in meshtool.model.native (the same code validate runs)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple

from meshtool.model import types as t
from meshtool.sidecar.balancer import ExactRate, SmoothWeighted


class Problems(list):
    """Every problem of a snapshot, rendered as one NACK text."""

    def add(self, where: str, message: str) -> None:
        self.append(f"{where}: {message}")

    def __str__(self) -> str:
        return "; ".join(self)


@dataclass(frozen=True)
class Matcher:
    name: str  # lower-case header name, or uri, scheme, method, authority (request parts)
    kind: str  # exact | prefix | regex
    value: str
    pattern: re.Pattern | None = None

    def test(self, text: str | None) -> bool:
        if text is None:
            return False
        if self.kind == t.EXACT:
            return text == self.value
        if self.kind == t.PREFIX:
            return text.startswith(self.value)
        return self.pattern.fullmatch(text) is not None  # type: ignore[union-attr]


class DelayFault(NamedTuple):
    rate: ExactRate
    seconds: float


class AbortFault(NamedTuple):
    rate: ExactRate
    status: int


@dataclass(eq=False)
class CompiledRule:
    """A Route ready for the request path: its fields copied to plain attributes (read per
    request), its matchers compiled and its subsets resolved."""

    route: t.Route
    matchers: list[Matcher]
    split: SmoothWeighted
    delay: DelayFault | None = None
    abort: AbortFault | None = None
    mirror: Any = None  # a Subset

    def __post_init__(self) -> None:
        route = self.route
        self.name = route.full_name  # "namespace/name"
        self.destination = route.destination.key  # (namespace, service)
        self.precedence = route.precedence
        self.redirect = route.redirect
        self.redirect_code = route.redirect_code
        self.rewrite = route.rewrite
        self.timeout = route.timeout
        self.retry = route.retry  # model Retry: attempts, per-try timeout, codes, backoff
        self.cors = route.cors
        self.append_headers = route.append_headers
        self.request_headers = route.request_headers
        self.response_headers = route.response_headers


def matcher(m: t.HeaderMatch) -> Matcher:
    return Matcher(m.name, m.kind, m.value, re.compile(m.value) if m.kind == t.REGEX else None)


def compile_route(route: t.Route, subset: Callable[[t.ServiceRef, Mapping[str, str]], Any]
                  ) -> CompiledRule:
    """A checked Route with its subsets resolved by `subset(service, labels)`."""
    dest = route.destination
    rule = CompiledRule(route, [matcher(m) for m in route.headers],
                        SmoothWeighted([(subset(w.service or dest, w.labels), w.weight)
                                        for w in route.split]))
    if route.delay is not None:
        rule.delay = DelayFault(ExactRate(route.delay.percent), route.delay.seconds)
    if route.abort is not None:
        rule.abort = AbortFault(ExactRate(route.abort.percent), route.abort.status)
    if route.mirror is not None:
        rule.mirror = subset(route.mirror.service, route.mirror.labels)
    return rule


