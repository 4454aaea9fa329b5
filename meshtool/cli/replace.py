"""`meshtool replace -f FILE`: overwrite stored rules, all or none, refusing stale versions."""

from __future__ import annotations

import click

from meshtool.cli.options import store_write_options


@click.command()
@store_write_options
def replace(files: tuple[str, ...], namespace: str | None, store: str | None,
            kubeconfig: str | None, context: str | None, quiet: bool) -> int:
    """Replace rules in the config store.

    A rule carrying metadata.resourceVersion (as `get -o yaml` prints it) is
    replaced only if nobody changed it since; otherwise the call fails with a
    conflict and nothing is stored. A rule without it is replaced as it is.
    If any rule is invalid, missing or stale, nothing is stored.

    \b
    Examples:
      meshtool replace -f samples/egress/route-svcb-100-v2.yaml
      meshtool get rr reviews -o yaml > r.yaml; $EDITOR r.yaml; meshtool replace -f r.yaml
    """
    from meshtool.cli.render import report
    from meshtool.cli.storecmd import kube_namespace, load_input
    from meshtool.store import open_store

    default_ns = kube_namespace(store, namespace, kubeconfig, context)
    resources = load_input(files, namespace, quiet=quiet, default_namespace=default_ns, store=store)
    with open_store(store, kubeconfig=kubeconfig, context=context) as st:
        for res in st.replace(resources):
            report(f"Updated config {res.display} to revision {res.revision}", quiet)
    return 0
