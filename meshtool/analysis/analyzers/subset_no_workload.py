"""Subsets (route labels, mirror labels, policy labels) that select no pod of the service."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.index import Destination
from meshtool.analysis.items import Item, format_labels


def _check(ctx: Context, rule: Item, dest: Destination | None, labels: dict[str, str],
           path: tuple) -> None:
    if not labels or dest is None or dest.namespace is None:
        return
    behind = ctx.index.service_workloads(dest.namespace, dest.service)
    if behind is None:  # no such Service (MT0100 says so) or no selector: nothing to check
        return
    if not ctx.index.select(dest.namespace, labels, among=behind):
        ctx.report("MT0101", rule, path, subset=format_labels(labels), service=dest.service)


def run(ctx: Context) -> None:
    index = ctx.index
    if not index.knows_services:
        return
    for rule in index.route_rules:
        route = index.model(rule)
        if route is None:  # a broken rule is MT0001's
            continue
        for i, subset in enumerate(route.split):  # in the order of spec.route
            dest = index.destination(rule) if subset.service is None \
                else index.service_destination(rule, subset.service)
            _check(ctx, rule, dest, dict(subset.labels), ("spec", "route", i, "labels"))
        if route.mirror is not None:
            _check(ctx, rule, index.service_destination(rule, route.mirror.service),
                   dict(route.mirror.labels), ("spec", "mirror", "labels"))
    for policy in index.policies:
        value = index.model(policy)
        if value is not None:
            _check(ctx, policy, index.destination(policy), dict(value.labels),
                   ("spec", "destination", "labels"))


ANALYZER = Analyzer(
    name="subset-no-workload",
    description="Every subset a rule names (route, mirror or policy labels) must select at least "
                "one workload behind the service.",
    kinds=("RouteRule", "DestinationPolicy", "Service", "Deployment", "StatefulSet",
           "DaemonSet", "Pod"),
    codes=("MT0101",),
    run=run,
)
