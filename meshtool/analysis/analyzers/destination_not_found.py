"""Rules addressing a service that does not exist."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.index import Destination, target_destination
from meshtool.analysis.items import Item, as_dict
from meshtool.model.hosts import host_matches
from meshtool.model.kinds import GATEWAY_ROUTE


def _external(ctx: Context, name: str) -> bool:
    """A two-label name such as 'example.com' may be an egress host rather than svc.ns."""
    for rule in ctx.index.egress_rules:
        pattern = as_dict(rule.spec.get("destination")).get("service")
        if isinstance(pattern, str) and host_matches(pattern, name.split(":", 1)[0]):
            return True
    return False


def _check(ctx: Context, rule: Item, field: str, target: dict, dest: Destination | None) -> None:
    if dest is None or dest.namespace is None:
        return
    if (dest.namespace, dest.service) in ctx.index.services:
        return
    if _external(ctx, str(target.get("name"))):
        return
    ctx.report("MT0100", rule, ("spec", field, "name"), service=dest.service,
               namespace=dest.namespace, field=f"spec.{field}.name")


def run(ctx: Context) -> None:
    index = ctx.index
    rules = index.route_rules + index.policies
    if not (rules or index.by_kind.get(GATEWAY_ROUTE)):
        return
    if not index.knows_services:  # said once, for these rules and gateway-backend-not-found
        ctx.report_at("MT0002")
        return
    for rule in rules:
        _check(ctx, rule, "destination", as_dict(rule.spec.get("destination")),
               index.destination(rule))
        mirror = rule.spec.get("mirror")
        if isinstance(mirror, dict):
            _check(ctx, rule, "mirror", mirror, target_destination(rule, mirror))


ANALYZER = Analyzer(
    name="destination-not-found",
    description="RouteRule and DestinationPolicy destinations (and mirrors) must name an "
                "existing Service.",
    kinds=("RouteRule", "DestinationPolicy", "Service", "EgressRule", GATEWAY_ROUTE),
    codes=("MT0100", "MT0002"),
    run=run,
)
