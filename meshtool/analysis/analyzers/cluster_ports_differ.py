"""The same Service with different ports in two clusters of one mesh."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.items import as_dict, as_list
from meshtool.analysis.remote import REMOTE_CLUSTER, remote_objects


def ports(service: dict) -> tuple[str, ...]:
    """'5000/TCP', ... sorted: what callers of the merged service may reach."""
    return tuple(sorted(f"{as_dict(p).get('port')}/{as_dict(p).get('protocol') or 'TCP'}"
                        for p in as_list(as_dict(service.get("spec")).get("ports"))))


def run(ctx: Context) -> None:
    index = ctx.index
    for cluster in index.by_kind.get(REMOTE_CLUSTER, []):
        for key, remote in remote_objects(cluster, "services").items():
            here = index.services.get(key)
            if here is None or here.spec.get("type") == "ExternalName":
                continue
            mine, theirs = ports(here.manifest), ports(remote)
            if mine != theirs:
                ctx.report("MT0321", here, ("spec", "ports"), service=f"{key[1]}.{key[0]}",
                           ports=", ".join(mine) or "none", other_ports=", ".join(theirs)
                           or "none", cluster=cluster.name)


ANALYZER = Analyzer(
    name="cluster-ports-differ",
    description="A Service present in several clusters must have the same ports in each (its "
                "endpoints are merged across clusters).",
    kinds=("Service", REMOTE_CLUSTER),
    codes=("MT0321",),
    run=run,
)
