"""`meshtool create -f FILE`: add new rules to the config store, all or none."""

from __future__ import annotations

import click

from meshtool.cli.options import files_option, namespace_option, quiet_option, store_option


@click.command()
@files_option
@namespace_option
@store_option
@quiet_option
def create(files: tuple[str, ...], namespace: str | None, store: str | None, quiet: bool) -> int:
    """Create rules in the config store.

    Every rule in the inputs is validated first; if any is invalid or already
    exists, nothing is stored. All rules of one call share one new revision.

    \b
    Examples:
      meshtool create -f samples/canary/rules/route-90-10.yaml
      meshtool create -f rules/ -n staging
      cat rule.yaml | meshtool create -f -
    """
    from meshtool.cli.render import report
    from meshtool.cli.storecmd import load_input
    from meshtool.store import open_store

    resources = load_input(files, namespace, quiet=quiet)
    with open_store(store) as st:
        for res in st.create(resources):
            report(f"Created config {res.display} at revision {res.revision}", quiet)
    return 0
