"""meshtool's own sidecar annotations: unknown names (likely typos) and unusable values."""

from __future__ import annotations

import difflib
import ipaddress
import json

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.workloads import (INJECT_ANNOTATION, SIDECAR_ANNOTATIONS, SIDECAR_PREFIX,
                                         STATUS_ANNOTATION, TRAFFIC_ANNOTATIONS, TRAFFIC_PREFIX)

KNOWN = frozenset(SIDECAR_ANNOTATIONS + TRAFFIC_ANNOTATIONS)


def _ip_ranges(value: str) -> str | None:
    if value.strip() == "*":
        return None
    for part in filter(None, (p.strip() for p in value.split(","))):
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            return f"{part!r} is not an IP range: give comma-separated CIDRs (10.0.0.0/8) or *"
    return None


def _ports(value: str) -> str | None:
    if value.strip() == "*":
        return None
    for part in filter(None, (p.strip() for p in value.split(","))):
        if not part.isdigit() or not 0 < int(part) < 65536:
            return f"{part!r} is not a port: give comma-separated port numbers (1-65535)"
    return None


def problem(key: str, value: str) -> str | None:
    """Why `value` is unusable for the known annotation `key`; None when it is fine."""
    if key == INJECT_ANNOTATION:
        if value.lower() not in ("true", "false"):
            return f"{value!r} is not \"true\" or \"false\""
        return None
    if key == STATUS_ANNOTATION:
        try:
            ok = isinstance(json.loads(value), dict)
        except ValueError:
            ok = False
        return None if ok else "is not the JSON object kube-inject writes: remove it and " \
                               "run meshtool kube-inject again"
    if key.endswith("IPRanges"):
        return _ip_ranges(value)
    if key.endswith("Ports"):
        return _ports(value)
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
                "known names with usable values.",
    kinds=("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"),
    codes=("MT0306", "MT0307"),
    run=run,
)
