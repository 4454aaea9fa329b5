"""`meshtool get KIND [NAME...]`: show stored rules as a table, YAML, JSON or names."""

from __future__ import annotations

import click

from meshtool.cli.options import kube_options, store_option
from meshtool.cli.storecmd import complete_args_or_all

OUTPUTS = "table|wide|yaml|json|name|jsonpath=TEMPLATE|custom-columns=SPEC"


@click.command()
@click.argument("args", nargs=-1, metavar="KIND [NAME]... | KIND/NAME...",
                shell_complete=complete_args_or_all)
@click.option("-n", "--namespace", default=None, metavar="NS",
              help="Namespace to look in (default: 'default').")
@click.option("-A", "--all-namespaces", is_flag=True, help="List rules in every namespace.")
@click.option("-o", "--output", default="table", show_default=True, metavar="FORMAT",
              help=f"Output format: {OUTPUTS}.",
              shell_complete=lambda ctx, param, incomplete: [
                  f for f in ("table", "wide", "yaml", "json", "name", "jsonpath=", "custom-columns=")
                  if f.startswith(incomplete)])
@click.option("-l", "--selector", default=None, metavar="SELECTOR",
              help="Only rules whose labels match (key=value, key!=value, key, !key; comma = and).")
@click.option("-w", "--watch", is_flag=True,
              help="After listing, print each change as it happens until Ctrl-C.")
@store_option
@kube_options
def get(args: tuple[str, ...], namespace: str | None, all_namespaces: bool, output: str,
        selector: str | None, watch: bool, store: str | None, kubeconfig: str | None,
        context: str | None) -> int:
    """Show rules from the config store.

    KIND is routerule (rr), egressrule (er), destinationpolicy (dp), mtlspolicy,
    accesspolicy (ap), virtualservice (vs), destinationrule (dr), serviceentry (se),
    trafficroute, httproute, grpcroute, or all.
    Without NAME, every rule of that kind in the namespace is listed. Rules of other APIs
    are shown as written, with a Resolved condition under status (-o yaml|json).
    `-o name` prints KIND/NAMESPACE/NAME, which `delete` takes back.

    \b
    Examples:
      meshtool get rr
      meshtool get rr/benigno-canary -o yaml
      meshtool get all -A -o wide
      meshtool get rr -l team=payments -o name
      meshtool get rr -o jsonpath='{.items[*].metadata.name}'
      meshtool get rr -o custom-columns=NAME:.metadata.name,DEST:.spec.destination.name
      meshtool get dp -n prod -o json
      meshtool get vs -o yaml
    """
    from meshtool.cli import listing
    from meshtool.cli.storecmd import effective_namespace, kube_namespace
    from meshtool.errors import MeshtoolError, NotFoundError, UsageError

    class StoreDamaged(MeshtoolError):
        pass
    from meshtool.store import open_store

    fmt = listing.parse_output(output)
    match = listing.parse_selector(selector) if selector else None
    kinds, keys = listing.parse_targets(args)
    if keys and all_namespaces and any(ns is None for _, ns, _ in keys):
        raise UsageError("a NAME is looked up in one namespace: drop -A or the NAME")
    if keys and watch:
        raise UsageError("--watch lists a kind: give KIND without NAMEs")
    default_ns = None if all_namespaces else kube_namespace(store, namespace, kubeconfig, context)
    ns = None if all_namespaces else effective_namespace(namespace or default_ns)
    with open_store(store, kubeconfig=kubeconfig, context=context) as st:
        if keys:
            items, missing = [], []
            for kind, key_ns, name in dict.fromkeys(keys):
                try:
                    items.append(st.get(kind, key_ns or ns, name))
                except NotFoundError as exc:
                    missing.extend(exc.lines())
            if missing:
                raise NotFoundError("; ".join(missing))
        else:
            items = [r for k in kinds for r in st.list(k, ns)] if kinds else st.list(None, ns)
        if match is not None:
            items = [r for r in items if match(r.labels)]
        damaged = [r for r in items if getattr(r, "damaged", None)]
        for r in damaged:  # named, and the rest still shown
            click.echo(f"warning: store {st.location}: config {r.display}: {r.damaged}: skipped; "
                       f"`meshtool delete {r.display}` removes it", err=True)
        if damaged and keys:
            raise StoreDamaged(f"config {damaged[0].display} cannot be shown: {damaged[0].damaged}")
        items = [r for r in items if not getattr(r, "damaged", None)]
        if not items and not keys and fmt.kind in ("table", "wide", "name"):
            where = "any namespace" if ns is None else f'namespace "{ns}"'
            click.echo(f"No rules found in {where}.", err=True)
        else:
            status = _status(st, items) if fmt.kind in ("yaml", "json", "jsonpath") else None
            click.echo(listing.render(items, fmt, single=len(keys) == 1, status=status), nl=False)
        if watch:
            return listing.watch(st, kinds, ns, match, fmt)
    return 0


def _status(st, items) -> dict | None:
    """For rules of other APIs: whether the control plane can compile them, and if not why
    (a reference to a resource not stored yet), as a `Resolved` condition."""
    if all(r.is_native for r in items):
        return None
    from meshtool.model.compile import compile_resources

    compiled = compile_resources(st.list())
    return {r.key: {"conditions": [compiled.condition(r.key)]} for r in items if not r.is_native}
