"""Subsets (route labels, mirror labels, policy labels) that select no pod of the service."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.index import Destination, target_destination
from meshtool.analysis.items import Item, as_dict, as_list, format_labels, str_map


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
        spec = rule.spec
        destination = index.destination(rule)
        for i, route in enumerate(as_list(spec.get("route"))):
            labels = str_map(as_dict(route).get("labels"))
            _check(ctx, rule, destination, labels, ("spec", "route", i, "labels"))
        mirror = spec.get("mirror")
        if isinstance(mirror, dict):
            _check(ctx, rule, target_destination(rule, mirror), str_map(mirror.get("labels")),
                   ("spec", "mirror", "labels"))
    for policy in index.policies:
        labels = str_map(as_dict(policy.spec.get("destination")).get("labels"))
        _check(ctx, policy, index.destination(policy), labels, ("spec", "destination", "labels"))


ANALYZER = Analyzer(
    name="subset-no-workload",
    description="Every subset a rule names (route, mirror or policy labels) must select at least "
                "one workload behind the service.",
    kinds=("RouteRule", "DestinationPolicy", "Service", "Deployment", "StatefulSet",
           "DaemonSet", "Pod"),
    codes=("MT0101",),
    run=run,
)
