"""Rules addressing a service that does not exist."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.index import Destination
from meshtool.analysis.items import Item
from meshtool.model.hosts import host_matches
from meshtool.model.kinds import GATEWAY_ROUTE
from meshtool.rules.yamlio import format_path


def _external(ctx: Context, name: str) -> bool:
    """A two-label name such as 'example.com' may be an egress host rather than svc.ns."""
    for rule in ctx.index.egress_rules:
        egress = ctx.index.model(rule)
        if egress is not None and host_matches(egress.pattern, name.split(":", 1)[0]):
            return True
    return False


def _check(ctx: Context, rule: Item, field: tuple, name: str, dest: Destination | None) -> None:
    if dest is None or dest.namespace is None:
        return
    if (dest.namespace, dest.service) in ctx.index.services:
        return
    if _external(ctx, name):
        return
    at = ("spec", *field, "name")
    ctx.report("MT0100", rule, at, service=dest.service, namespace=dest.namespace,
               field=format_path(at))


def run(ctx: Context) -> None:
    index = ctx.index
    rules = index.route_rules + index.policies
    if not (rules or index.by_kind.get(GATEWAY_ROUTE)):
        return
    if not index.knows_services:  # said once, for these rules and gateway-backend-not-found
        ctx.report_at("MT0002")
        return
    for rule in rules:
        value = index.model(rule)
        if value is None:  # a broken rule is MT0001's
            continue
        _check(ctx, rule, ("destination",), value.destination.name, index.destination(rule))
        for i, subset in enumerate(getattr(value, "split", ())):  # another service's share
            if subset.service is not None:
                _check(ctx, rule, ("route", i, "destination"), subset.service.name,
                       index.service_destination(rule, subset.service))
        mirror = getattr(value, "mirror", None)
        if mirror is not None:
            _check(ctx, rule, ("mirror",), mirror.service.name,
                   index.service_destination(rule, mirror.service))


ANALYZER = Analyzer(
    name="destination-not-found",
    description="RouteRule and DestinationPolicy destinations (a route's other services and "
                "mirrors too) must name an existing Service.",
    kinds=("RouteRule", "DestinationPolicy", "Service", "EgressRule", GATEWAY_ROUTE),
    codes=("MT0100", "MT0002"),
    run=run,
)
