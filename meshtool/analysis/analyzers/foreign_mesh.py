"""Labels and annotations of other meshes, which meshtool ignores, with what to use instead."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.items import Item
from meshtool.conventions import INJECT_KEY, TRAFFIC_PREFIX

NS_LABEL = "label meshtool-injection=enabled (or =disabled) on the namespace"
OPT = f"{INJECT_KEY}: \"true\" or \"false\""

# exact key -> (mesh, on a Namespace, on a workload)
EXACT = {
    "istio-injection": ("Istio", NS_LABEL, NS_LABEL),
    "istio.io/rev": ("Istio", NS_LABEL, NS_LABEL),
    "sidecar.istio.io/inject": ("Istio", NS_LABEL, OPT),
    "sidecar.istio.io/status": ("Istio", "nothing (remove it)",
                                "istioctl's uninject, then meshtool kube-inject"),
    "kuma.io/sidecar-injection": ("Kuma", NS_LABEL, OPT),
    "linkerd.io/inject": ("Linkerd", NS_LABEL, OPT),
}
TRAFFIC = "traffic.sidecar.istio.io/"


def _advice(key: str, namespace: bool) -> tuple[str, str] | None:
    if key in EXACT:
        mesh, on_ns, on_workload = EXACT[key]
        return mesh, on_ns if namespace else on_workload
    if key.startswith(TRAFFIC):
        return "Istio", TRAFFIC_PREFIX + key[len(TRAFFIC):]
    if key.startswith("sidecar.istio.io/"):
        return "Istio", "nothing: meshtool has no equivalent, remove it"
    return None


def _check(ctx: Context, item: Item, values: dict[str, str], path: tuple, what: str,
           namespace: bool) -> None:
    for key in values:
        advice = _advice(key, namespace)
        if advice:
            ctx.report("MT0308", item, path + (key,), what=what, key=key, mesh=advice[0],
                       instead=advice[1])


def run(ctx: Context) -> None:
    for ns in ctx.index.namespaces.values():
        _check(ctx, ns, ns.labels, ("metadata", "labels"), "label", True)
        _check(ctx, ns, ns.annotations, ("metadata", "annotations"), "annotation", True)
    for workload in ctx.index.workloads:
        if workload.controlled:
            continue
        item = workload.item
        _check(ctx, item, item.labels, ("metadata", "labels"), "label", False)
        _check(ctx, item, item.annotations, ("metadata", "annotations"), "annotation", False)
        if workload.template_path:
            _check(ctx, item, workload.labels, workload.path("metadata", "labels"), "label",
                   False)
            _check(ctx, item, workload.annotations, workload.path("metadata", "annotations"),
                   "annotation", False)


ANALYZER = Analyzer(
    name="foreign-mesh",
    description="Labels and annotations of Istio, Kuma or Linkerd are ignored by meshtool; "
                "use the meshtool equivalent.",
    kinds=("Namespace", "Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job",
           "CronJob"),
    codes=("MT0308",),
    run=run,
)
