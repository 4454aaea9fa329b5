"""`meshtool apply -f FILE`: create the rules that are missing, update the ones that exist."""

from __future__ import annotations

import click

from meshtool.cli.options import store_write_options

_VERB = {"ADDED": "Created", "MODIFIED": "Updated", None: "Unchanged"}


@click.command()
@store_write_options
def apply(files: tuple[str, ...], namespace: str | None, store: str | None,
          kubeconfig: str | None, context: str | None, quiet: bool, dry_run: str) -> int:
    """Create or update rules in the config store, in one transaction.

    A rule carrying metadata.resourceVersion is updated only if nobody changed it
    since (a conflict stores nothing); rules whose content is already stored are
    left alone and take no revision. `meshtool diff -f` shows what apply would change.

    \b
    Examples:
      meshtool apply -f samples/canary/rules/route-90-10.yaml
      meshtool diff -f samples/canary/rules/route-50-50.yaml   # exit 1: it would change weights
      meshtool apply -f samples/canary/rules/route-50-50.yaml --dry-run=server
      meshtool apply -f samples/canary/rules/route-50-50.yaml
    """
    from meshtool.cli.render import report
    from meshtool.cli.storecmd import DRY_RUN_NOTE, kube_namespace, load_input, open_for_write

    default_ns = kube_namespace(store, namespace, kubeconfig, context)
    resources = load_input(files, namespace, quiet=quiet, default_namespace=default_ns, store=store)
    note = DRY_RUN_NOTE[dry_run]
    if dry_run == "client":
        for res in resources:
            report(f"Applied config {res.display}{note}", quiet)
        return 0
    with open_for_write(store, kubeconfig, context, dry_run) as st:
        for change in st.apply(resources):
            res = change.resource
            at = f" at revision {res.revision}" if change.type else f" (revision {res.revision})"
            report(f"{_VERB[change.type]} config {res.display}{at}{note}", quiet)
    return 0
