"""Remote secrets whose cluster cannot be read: its endpoints are missing everywhere."""

from __future__ import annotations

from meshtool.analysis.analyzer import Analyzer
from meshtool.analysis.context import Context
from meshtool.analysis.remote import REMOTE_CLUSTER


def run(ctx: Context) -> None:
    for cluster in ctx.index.by_kind.get(REMOTE_CLUSTER, []):
        doc = cluster.manifest
        if doc.get("error"):
            ctx.report("MT0320", cluster, cluster=cluster.name, secret=doc.get("secret"),
                       server=doc.get("server") or "(no server in its kubeconfig)",
                       error=doc["error"])


ANALYZER = Analyzer(
    name="remote-cluster-unreachable",
    description="Every cluster named by a remote secret must answer with its kubeconfig "
                "(analyze --use-kube reads them).",
    kinds=(REMOTE_CLUSTER,),
    codes=("MT0320",),
    run=run,
)
