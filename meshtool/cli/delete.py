"""`meshtool delete -f FILE` / `meshtool delete KIND NAME...`: remove rules, all or none."""

from __future__ import annotations

import click

from meshtool.cli.options import store_write_options
from meshtool.cli.storecmd import complete_args


@click.command()
@click.argument("args", nargs=-1, metavar="[KIND NAME... | KIND/NAME...]",
                shell_complete=complete_args)
@store_write_options
def delete(args: tuple[str, ...], files: tuple[str, ...], namespace: str | None,
           store: str | None, kubeconfig: str | None, context: str | None, quiet: bool,
           dry_run: str) -> int:
    """Delete rules from the config store, named by the files that define them or by
    kind and name. If any of them does not exist, nothing is deleted.

    KIND is routerule (rr), egressrule (er), destinationpolicy (dp), mtlspolicy or
    accesspolicy (ap).

    \b
    Examples:
      meshtool delete -f samples/canary/rules/route-90-10.yaml
      meshtool delete rr svcb-shift msgd-egress-rule --dry-run=server   # exit 1: no such RouteRule msgd-egress-rule
      meshtool delete rr svcb-shift
      meshtool get all -A -o name | xargs meshtool delete --dry-run=server
      meshtool get all -A -o name | xargs meshtool delete
    """
    from meshtool.cli.render import report
    from meshtool.cli.storecmd import (DRY_RUN_NOTE, effective_namespace, keys_from_args,
                                       keys_from_files, kube_namespace, open_for_write)
    from meshtool.errors import UsageError
    from meshtool.store.base import display_key

    if files and args:
        raise UsageError("give either -f FILE or KIND NAME..., not both")
    default_ns = kube_namespace(store, namespace, kubeconfig, context)
    if files:
        keys = keys_from_files(files, namespace, quiet=quiet, default_namespace=default_ns,
                               store=store)
    else:
        keys = keys_from_args(args, effective_namespace(namespace or default_ns))
    note = DRY_RUN_NOTE[dry_run]
    if dry_run == "client":
        for key in dict.fromkeys(keys):
            report(f"Deleted config {display_key(key)}{note}", quiet)
        return 0
    with open_for_write(store, kubeconfig, context, dry_run) as st:
        for change in st.delete(keys):
            report(f"Deleted config {change.resource.display}{note}", quiet)
    return 0
