"""meshtool's own sidecar annotations: unknown names (likely typos) and unusable values.

Values are checked with the injector's own parsers, so analyze refuses exactly what
kube-inject would refuse."""

from __future__ import annotations

import difflib

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.conventions import INJECT_KEY, STATUS_KEY, TRAFFIC_PREFIX
from meshtool.inject.status import Status
from meshtool.inject.traffic import ANNOTATIONS as TRAFFIC_PARSERS

SIDECAR_PREFIX = "sidecar.meshtool.io/"
KNOWN = frozenset((STATUS_KEY, INJECT_KEY, *(TRAFFIC_PREFIX + n for n in TRAFFIC_PARSERS)))


def problem(key: str, value: str) -> str | None:
    """Why `value` is unusable for the known annotation `key`; None when it is fine."""
    if key == INJECT_KEY:
        if value.lower() not in ("true", "false"):
            return f"{value!r} is not \"true\" or \"false\""
        return None
    if key == STATUS_KEY:
        try:
            Status.from_json(value)
        except ValueError as exc:
            return f"is not the status kube-inject writes ({exc}): remove it and run " \
                   f"meshtool kube-inject again"
        return None
    if key.startswith(TRAFFIC_PREFIX):
        _, parse, star = TRAFFIC_PARSERS[key[len(TRAFFIC_PREFIX):]]
        try:
            parse(value, allow_star=star)
        except ValueError as exc:
            return f"{exc}; give a comma-separated list" + (" or *" if star else "")
    return None


def run(ctx: Context) -> None:
    for workload in ctx.index.workloads:
        if workload.controlled:
            continue
        item = workload.item
        places = ((workload.annotations, workload.path("metadata", "annotations")),
                  (item.annotations, ("metadata", "annotations")),
                  (workload.labels, workload.path("metadata", "labels")),
                  (item.labels, ("metadata", "labels")))
        seen: set[str] = set()
        for values, path in places:
            for key, value in values.items():
                if not key.startswith((SIDECAR_PREFIX, TRAFFIC_PREFIX)) or key in seen:
                    continue
                seen.add(key)
                if key not in KNOWN:
                    close = difflib.get_close_matches(key, KNOWN, n=1, cutoff=0.8)
                    ctx.report("MT0306", item, path + (key,), key=key,
                               hint=f" (did you mean {close[0]}?)" if close else "")
                    continue
                why = problem(key, value)
                if why:
                    ctx.report("MT0307", item, path + (key,), key=key, problem=why)


ANALYZER = Analyzer(
    name="sidecar-annotations",
    description="sidecar.meshtool.io/* and traffic.sidecar.meshtool.io/* annotations must be "
                "known names with values kube-inject accepts.",
    kinds=("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"),
    codes=("MT0306", "MT0307"),
    run=run,
)
