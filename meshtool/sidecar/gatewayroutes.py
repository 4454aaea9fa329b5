"""The gateway's routing table: GatewayRoutes of the model compiled for the request path.

Routes are tried most specific first: an exact host before a wildcard before any host, then
higher precedence (an Ingress's default backend has -1), then an exact path before a longer
prefix before a shorter one before a regex before no path at all. Prefixes match whole path
segments (/route1 matches /route1 and /route1/hw2, never /route1x).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from meshtool.model import types as t
from meshtool.sidecar.balancer import SmoothWeighted


@dataclass(eq=False)
class CompiledGatewayRoute:
    route: t.GatewayRoute
    backends: SmoothWeighted  # of (service key (namespace, name), GatewayBackend)
    pattern: re.Pattern | None = None

    @property
    def name(self) -> str:
        return self.route.full_name

    def host_matches(self, host: str) -> bool:
        hosts = self.route.hosts
        if not hosts:
            return True
        return any(host == h or (h.startswith("*.") and host.endswith(h[1:])) for h in hosts)

    def path_matches(self, path: str) -> bool:
        m = self.route.path
        if m is None:
            return True
        if m.kind == t.EXACT:
            return path == m.value
        if m.kind == t.PREFIX:
            prefix = m.value.rstrip("/")
            return not prefix or path == prefix or path.startswith(prefix + "/")
        return self.pattern.fullmatch(path) is not None  # type: ignore[union-attr]

    def rewrite(self, path: str) -> str:
        """The path the backend gets: the matched prefix replaced by rewrite_prefix."""
        new, m = self.route.rewrite_prefix, self.route.path
        if new is None or m is None:
            return path
        rest = "" if m.kind == t.EXACT else path[len(m.value.rstrip("/")):]
        joined = new.rstrip("/") + rest if rest else new
        return joined or "/"


def _rank(route: t.GatewayRoute) -> tuple:
    exact = [h for h in route.hosts if not h.startswith("*.")]
    host = (3, 0) if exact else (2, max(len(h) for h in route.hosts)) if route.hosts else (1, 0)
    m = route.path
    path = ((0, 0) if m is None else (3, len(m.value)) if m.kind == t.EXACT
            else (2, len(m.value.rstrip("/"))) if m.kind == t.PREFIX else (1, 0))
    return (host, route.precedence, path)


class GatewayTable:
    def __init__(self, routes: Iterable[t.GatewayRoute]):
        ordered = sorted(routes, key=lambda r: (_rank(r), r.full_name), reverse=True)
        self.routes = [CompiledGatewayRoute(
            r, SmoothWeighted([((b.service.key, b), b.weight) for b in r.backends]),
            re.compile(r.path.value) if r.path is not None and r.path.kind == t.REGEX else None)
            for r in ordered]

    def __len__(self) -> int:
        return len(self.routes)

    def find(self, host: str, path: str) -> CompiledGatewayRoute | None:
        for route in self.routes:
            if route.host_matches(host) and route.path_matches(path):
                return route
        return None

    def describe(self) -> list[dict[str, Any]]:
        """The table in order, for the admin's config dump and error bodies."""
        return [{"name": r.name, "hosts": list(r.route.hosts) or ["*"],
                 "path": f"{r.route.path.kind} {r.route.path.value}" if r.route.path else "any"}
                for r in self.routes]
