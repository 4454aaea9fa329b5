"""Gateway routes (from an Ingress, ...) whose backend Service does not exist."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.model.kinds import GATEWAY_ROUTE


def run(ctx: Context) -> None:
    index = ctx.index
    routes = index.by_kind.get(GATEWAY_ROUTE) or []
    if not routes or not index.knows_services:
        return  # destination-not-found says once that Services are missing from the input
    for route in routes:
        value = index.model(route)
        for i, backend in enumerate(value.backends if value is not None else ()):
            dest = index.service_destination(route, backend.service)
            if dest is None or dest.namespace is None:
                continue
            if (dest.namespace, dest.service) not in index.services:
                ctx.report("MT0105", route, ("spec", "backends", i, "service", "name"),
                           service=dest.service, namespace=dest.namespace)


ANALYZER = Analyzer(
    name="gateway-backend-not-found",
    description="Ingress (and other gateway) routes must send traffic to an existing Service.",
    kinds=(GATEWAY_ROUTE, "Service"),
    codes=("MT0105",),
    run=run,
)
