"""`meshtool get KIND [NAME...]`: show stored rules as a table, YAML, JSON or names."""

from __future__ import annotations

import time

import click

from meshtool.cli.options import kube_options, output_option, store_option
from meshtool.cli.storecmd import complete_kind_or_all, complete_name


@click.command()
@click.argument("kind", metavar="KIND", shell_complete=complete_kind_or_all)
@click.argument("names", nargs=-1, metavar="[NAME]...", shell_complete=complete_name)
@click.option("-n", "--namespace", default=None, metavar="NS",
              help="Namespace to look in (default: 'default').")
@click.option("-A", "--all-namespaces", is_flag=True, help="List rules in every namespace.")
@output_option("table", "yaml", "json", "name", default="table")
@store_option
@kube_options
def get(kind: str, names: tuple[str, ...], namespace: str | None, all_namespaces: bool,
        output: str, store: str | None, kubeconfig: str | None, context: str | None) -> int:
    """Show rules from the config store.

    KIND is routerule (rr), egressrule (er), destinationpolicy (dp), virtualservice (vs),
    destinationrule (dr), serviceentry (se), trafficroute, httproute, grpcroute, or all.
    Without NAME, every rule of that kind in the namespace is listed. Rules of other APIs
    are shown as written, with a Resolved condition under status (-o yaml/json).

    \b
    Examples:
      meshtool get rr
      meshtool get routerule reviews-canary -o yaml
      meshtool get all -A
      meshtool get vs -o yaml
      meshtool get dp -n prod -o json
      meshtool get all -A --store kubernetes --kubeconfig ~/.kube/prod
    """
    from meshtool.cli.storecmd import effective_namespace, kind_of, kube_namespace
    from meshtool.errors import NotFoundError, UsageError
    from meshtool.store import open_store

    kinds = None if kind.lower() == "all" else kind_of(kind)
    if names and all_namespaces:
        raise UsageError("a NAME is looked up in one namespace: drop -A or the NAME")
    if names and kinds is None:
        raise UsageError('give a kind, not "all", to get rules by name')
    default_ns = None if all_namespaces else kube_namespace(store, namespace, kubeconfig, context)
    ns = None if all_namespaces else effective_namespace(namespace or default_ns)
    with open_store(store, kubeconfig=kubeconfig, context=context) as st:
        if names:
            items, missing = [], []
            for name in dict.fromkeys(names):
                try:
                    items.append(st.get(kinds, ns, name))
                except NotFoundError as exc:
                    missing.extend(exc.lines())
            if missing:
                raise NotFoundError("; ".join(missing))
        else:
            items = st.list(kinds, ns)
        status = _status(st, items) if output in ("yaml", "json") else {}
    if not items and not names:
        where = "any namespace" if ns is None else f'namespace "{ns}"'
        click.echo(f"No rules found in {where}.", err=True)
        return 0
    _render(items, output, single=len(names) == 1, status=status)
    return 0


def _status(st, items) -> dict:
    """For rules of other APIs: whether the control plane can compile them, and if not why
    (a reference to a resource not stored yet), as a `Resolved` condition."""
    if all(r.is_native for r in items):
        return {}
    from meshtool.model.compile import compile_resources

    compiled = compile_resources(st.list())
    return {r.key: {"conditions": [compiled.condition(r.key)]} for r in items if not r.is_native}


def _manifests(items, status: dict) -> list[dict]:
    out = []
    for r in items:
        manifest = r.to_manifest()
        if r.key in status:
            manifest["status"] = status[r.key]
        out.append(manifest)
    return out


def _render(items, output: str, *, single: bool, status: dict | None = None) -> None:
    from meshtool.cli import render
    from meshtool.cli.storecmd import name_form

    if output == "name":
        click.echo("".join(f"{name_form(r)}\n" for r in items), nl=False)
    elif output == "yaml":
        click.echo(render.dump_yaml_stream(_manifests(items, status or {})), nl=False)
    elif output == "json":
        click.echo(render.dump_manifests_json(_manifests(items, status or {}), single=single),
                   nl=False)
    else:
        _table(items)


def _table(items) -> None:
    from rich.table import Table

    from meshtool.cli.render import stdout_console

    table = Table(box=None, pad_edge=False, padding=(0, 3, 0, 0), header_style="bold")
    for column in ("NAME", "KIND", "NAMESPACE", "REVISION", "AGE"):
        table.add_column(column, no_wrap=True)
    now = time.time()
    for r in items:
        table.add_row(r.name, r.kind, r.namespace, str(r.revision),
                      age(now - r.created) if getattr(r, "created", None) else "-")
    console = stdout_console()
    console.width = 10_000  # never cut a name short, like kubectl; columns fit their content
    with console.capture() as captured:
        console.print(table)
    text = captured.get()
    if not console.is_terminal:  # no styling when piped: drop the alignment padding at line ends
        text = "".join(line.rstrip() + "\n" for line in text.splitlines())
    click.echo(text, nl=False)


def age(seconds: float) -> str:
    """kubectl-style age: 45s, 12m, 5h, 3d."""
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s}s"
    if s < 120 * 60:
        return f"{s // 60}m"
    if s < 48 * 3600:
        return f"{s // 3600}h"
    return f"{s // 86400}d"
