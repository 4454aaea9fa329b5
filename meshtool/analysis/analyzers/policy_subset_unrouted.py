"""DestinationPolicies for a subset that no RouteRule sends traffic to."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.items import format_labels


def _compatible(a: dict[str, str], b: dict[str, str]) -> bool:
    """Can one pod carry both label sets (no key with two values)?"""
    return all(b.get(k, v) == v for k, v in a.items())


def run(ctx: Context) -> None:
    index = ctx.index
    for policy in index.policies:
        value = index.model(policy)
        labels = dict(value.labels) if value is not None else {}
        destination = index.destination(policy)
        if not labels or destination is None:
            continue
        if destination.namespace and index.knows_services:
            behind = index.service_workloads(destination.namespace, destination.service)
            if behind is not None and not index.select(destination.namespace, labels, behind):
                continue  # the subset does not exist at all: MT0101 says so
        rules = index.routes_by_destination.get(destination)
        if not rules:  # no rule: traffic spreads over every pod, this subset included
            continue
        reached = False
        for rule in rules:
            route = index.model(rule)
            # A rule without routes (fault, timeout...) has one subset, every pod, weight 100.
            for subset in route.split if route is not None else ():
                if subset.weight == 0 or (subset.service is not None and index.service_destination(
                        rule, subset.service) != destination):
                    continue  # no traffic, or traffic to another service
                if _compatible(dict(subset.labels), labels):
                    reached = True
            if reached:
                break
        if not reached:
            ctx.report("MT0104", policy, ("spec", "destination", "labels"),
                       subset=format_labels(labels), service=destination.display)


ANALYZER = Analyzer(
    name="policy-subset-unrouted",
    description="A DestinationPolicy for a subset must have a RouteRule routing to that subset.",
    kinds=("DestinationPolicy", "RouteRule"),
    codes=("MT0104",),
    run=run,
)
