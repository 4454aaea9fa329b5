"""Sidecar injection against the namespace's label: a running pod left without its sidecar
where the namespace asks for one, and an injected workload where it does not."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.conventions import INJECTION_LABEL  # the label install's webhook selects on


def run(ctx: Context) -> None:
    index = ctx.index
    if not index.namespaces:
        return
    for workload in index.workloads:
        labels = index.namespace_labels(workload.namespace)
        if labels is None:
            continue
        item = workload.item
        value = labels.get(INJECTION_LABEL)
        if workload.injected:
            if workload.controlled:
                continue  # its controller carries the same template
            args = dict(kind=item.kind, name=item.name, namespace=workload.namespace)
            if value is None:
                ctx.report("MT0304", item, (), **args)
            elif value != "enabled":
                ctx.report("MT0303", item, (), value=value, **args)
        elif workload.is_pod and value == "enabled" and not workload.opted_out:
            # Only a Pod is what runs: a Deployment in a file is injected at admission.
            ctx.report("MT0302", item, (), namespace=workload.namespace)


ANALYZER = Analyzer(
    name="injection-namespace",
    description="Pods in a namespace labelled meshtool-injection=enabled must have the sidecar; "
                "injected workloads belong in namespaces labelled for injection.",
    kinds=("Namespace", "Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job",
           "CronJob"),
    codes=("MT0302", "MT0303", "MT0304"),
    run=run,
)
