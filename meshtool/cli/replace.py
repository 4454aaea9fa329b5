"""`meshtool replace -f FILE`: overwrite existing rules, refusing stale resourceVersions."""

from __future__ import annotations

import click

from meshtool.cli.options import store_write_options


@click.command()
@store_write_options
def replace(files: tuple[str, ...], namespace: str | None, store: str | None,
            kubeconfig: str | None, context: str | None, quiet: bool, dry_run: str) -> int:
    """Replace rules in the config store.

    A rule carrying metadata.resourceVersion (as `get -o yaml` prints it) is
    replaced only if nobody changed it since; otherwise the call fails with a
    conflict and nothing is stored. A rule without it is replaced as it is.
    If any rule is invalid, missing or stale, nothing is stored.

    \b
    Examples:
      meshtool replace -f samples/egress/rules/route-svcb-100-v0.2.yaml
      meshtool get rr benigno-canary -o yaml > r.yaml; $EDITOR r.yaml; meshtool replace -f r.yaml
    """
    from meshtool.cli.render import report
    from meshtool.cli.storecmd import DRY_RUN_NOTE, kube_namespace, load_input, open_for_write

    default_ns = kube_namespace(store, namespace, kubeconfig, context)
    resources = load_input(files, namespace, quiet=quiet, default_namespace=default_ns, store=store)
    note = DRY_RUN_NOTE[dry_run]
    if dry_run == "client":
        for res in resources:
            report(f"Updated config {res.display}{note}", quiet)
        return 0
    with open_for_write(store, kubeconfig, context, dry_run) as st:
        for res in st.replace(resources):
            report(f"Updated config {res.display} to revision {res.revision}{note}", quiet)
    return 0
