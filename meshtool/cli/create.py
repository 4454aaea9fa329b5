"""`meshtool create -f FILE`: add new rules to the config store, all or none."""

from __future__ import annotations

import click

from meshtool.cli.options import store_write_options


@click.command()
@store_write_options
def create(files: tuple[str, ...], namespace: str | None, store: str | None,
           kubeconfig: str | None, context: str | None, quiet: bool, dry_run: str) -> int:
    """Create rules in the config store.

    Every rule in the inputs is validated first; if any is invalid or already
    exists, nothing is stored. All rules of one call share one new revision.

    \b
    Examples:
      meshtool create -f samples/canary/rules/route-90-10.yaml --dry-run=server
      meshtool create -f samples/canary/rules/route-90-10.yaml
      meshtool create -f samples/egress/rules/egress-msgd.yaml -n staging
      cat samples/helloworld/rules/route-all-v2.yaml | meshtool create -f -
      meshtool create -f rules/ --store kubernetes --context prod -n staging
    """
    from meshtool.cli.render import report
    from meshtool.cli.storecmd import DRY_RUN_NOTE, kube_namespace, load_input, open_for_write

    default_ns = kube_namespace(store, namespace, kubeconfig, context)
    resources = load_input(files, namespace, quiet=quiet, default_namespace=default_ns, store=store)
    note = DRY_RUN_NOTE[dry_run]
    if dry_run == "client":
        for res in resources:
            report(f"Created config {res.display}{note}", quiet)
        return 0
    with open_for_write(store, kubeconfig, context, dry_run) as st:
        for res in st.create(resources):
            report(f"Created config {res.display} at revision {res.revision}{note}", quiet)
    return 0
