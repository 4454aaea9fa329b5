"""Workloads without app/version labels in namespaces whose traffic is routed by version."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context

CHECKED_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Pod")


def _versioned_namespaces(ctx: Context) -> set[str]:
    out = set()
    for rule in ctx.index.route_rules:
        route = ctx.index.model(rule)
        if route is not None and any("version" in s.labels for s in route.split):
            dest = ctx.index.destination(rule)
            if dest is not None and dest.namespace:
                out.add(dest.namespace)
    return out


def run(ctx: Context) -> None:
    namespaces = _versioned_namespaces(ctx)
    if not namespaces:
        return
    for workload in ctx.index.workloads:
        item = workload.item
        if item.kind not in CHECKED_KINDS or workload.namespace not in namespaces or \
                workload.controlled or workload.opted_out:
            continue
        missing = [k for k in ("app", "version") if k not in workload.labels]
        if missing:
            ctx.report("MT0301", item, workload.path("metadata", "labels"), kind=item.kind,
                       name=item.name, namespace=workload.namespace,
                       missing=" and ".join(missing))


ANALYZER = Analyzer(
    name="version-labels",
    description="Where rules route by version, every Deployment (StatefulSet, DaemonSet, Pod) "
                "needs app and version labels on its pods.",
    kinds=("RouteRule", "Deployment", "StatefulSet", "DaemonSet", "Pod"),
    codes=("MT0301",),
    run=run,
)
