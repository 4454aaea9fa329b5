"""Services whose pods run only in other clusters, without a locality policy saying so."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.index import Destination
from meshtool.analysis.items import as_dict, str_map
from meshtool.analysis.remote import REMOTE_CLUSTER, remote_objects


def _has_locality_policy(ctx: Context, namespace: str, service: str) -> bool:
    for policy in ctx.index.policies_by_destination.get(Destination(service, namespace), []):
        value = ctx.index.model(policy)
        if value is not None and value.locality:  # as the sidecar reads it
            return True
    return False


def _selects(selector: dict[str, str], namespace: str, pods: dict) -> bool:
    return any(ns == namespace and selector.items() <= str_map(
        as_dict(pod.get("metadata")).get("labels")).items() for (ns, _), pod in pods.items())


def run(ctx: Context) -> None:
    index = ctx.index
    clusters = index.by_kind.get(REMOTE_CLUSTER, [])
    if not clusters:
        return
    pods = {c.name: remote_objects(c, "pods") for c in clusters}
    for (namespace, name), service in sorted(index.services.items()):
        behind = index.service_workloads(namespace, name)
        if behind is None or behind:  # no selector, or pods here: nothing to say
            continue
        selector = str_map(service.spec.get("selector"))
        elsewhere = sorted(c.name for c in clusters if _selects(selector, namespace, pods[c.name]))
        if elsewhere and not _has_locality_policy(ctx, namespace, name):
            ctx.report("MT0322", service, service=f"{name}.{namespace}",
                       clusters=", ".join(elsewhere))


ANALYZER = Analyzer(
    name="endpoints-only-remote",
    description="A Service whose workloads run only in other clusters should say how traffic "
                "fails over (a locality policy), or be deployed here too.",
    kinds=("Service", "Deployment", "StatefulSet", "DaemonSet", "Pod", "DestinationPolicy",
           REMOTE_CLUSTER),
    codes=("MT0322",),
    run=run,
)
