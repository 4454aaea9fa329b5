"""`meshtool describe KIND NAME`: one stored rule, whether it is in force, and who has it."""

from __future__ import annotations

import click

from meshtool.cli.options import (default_control_plane, kube_options, output_option,
                                  store_option)
from meshtool.cli.storecmd import complete_args


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="KIND NAME | KIND/NAME",
                shell_complete=complete_args)
@click.option("-n", "--namespace", default=None, metavar="NS",
              help="Namespace to look in (default: 'default').")
@click.option("--control-plane", "address", default="127.0.0.1:15010", show_default=False,
              envvar="MESHTOOL_CONTROL_PLANE", metavar="HOST:PORT",
              help="Where to ask which proxies hold the rule (default: $MESHTOOL_CONTROL_PLANE, "
                   "else the local mesh's, else 127.0.0.1:15010). Unreachable: the rule is still "
                   "described, without its proxies.")
@output_option("text", "yaml", "json", default="text")
@store_option
@kube_options
@click.pass_context
def describe(ctx: click.Context, args: tuple[str, ...], namespace: str | None, address: str,
             output: str, store: str | None, kubeconfig: str | None,
             context: str | None) -> int:
    """Describe one rule: the resource as stored, its conditions, and which proxies have
    ACKed a snapshot that holds this version of it.

    \b
    Conditions: Accepted (the control plane's checks, the same as `validate`: an invalid
    rule is left out of every snapshot) and, for rules of other APIs, Resolved (whether
    everything it refers to is stored). A proxy holds the rule when the snapshot it last
    ACKed was built from a store revision at or after the rule's last write.

    \b
    Examples:
      meshtool describe rr benigno-canary
      meshtool describe routerule/benigno-canary -n default
      meshtool describe er msgd-egress-rule -o yaml
    """
    from meshtool.cli import describing, listing
    from meshtool.cli.storecmd import effective_namespace, kube_namespace
    from meshtool.errors import UsageError
    from meshtool.store import open_store

    kinds, keys = listing.parse_targets(args)
    if len(keys) != 1:
        raise UsageError("describe takes one rule: KIND NAME or KIND/NAME")
    kind, key_ns, name = keys[0]
    ns = key_ns or effective_namespace(namespace or kube_namespace(store, namespace, kubeconfig,
                                                                   context))
    with open_store(store, kubeconfig=kubeconfig, context=context) as st:
        resource = st.get(kind, ns, name)
        everything = st.list() if not resource.is_native else None
    target = default_control_plane(ctx, address)
    report = describing.describe(resource, everything, target)
    if output == "text":
        click.echo(describing.as_text(report), nl=False)
    elif output == "json":
        from meshtool.cli.render import dump_json

        click.echo(dump_json(report), nl=False)
    else:
        from meshtool.cli.render import dump_yaml

        click.echo(dump_yaml(report), nl=False)
    return 0
