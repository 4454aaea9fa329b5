"""Application containers running as the proxy's UID, whose traffic is never redirected."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.items import as_dict
from meshtool.analysis.workloads import PROXY_UID
from meshtool.conventions import PROXY_CONTAINER


def _uid(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def run(ctx: Context) -> None:
    for workload in ctx.index.workloads:
        if workload.controlled or workload.opted_out:
            continue
        pod_uid = _uid(as_dict(workload.pod_spec.get("securityContext")).get("runAsUser"))
        for i, container in workload.containers():
            name = container.get("name")
            if name == PROXY_CONTAINER:
                continue
            own = _uid(as_dict(container.get("securityContext")).get("runAsUser"))
            uid = own if own is not None else pod_uid
            if uid == PROXY_UID:
                path = workload.path("spec", "containers", i, "securityContext", "runAsUser") \
                    if own is not None else workload.path("spec", "securityContext", "runAsUser")
                ctx.report("MT0305", workload.item, path, container=name)


ANALYZER = Analyzer(
    name="proxy-uid",
    description="No application container may run as UID 1337: the proxy's traffic is exempt "
                "from redirection, so the app's would bypass the sidecar.",
    kinds=("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"),
    codes=("MT0305",),
    run=run,
)
