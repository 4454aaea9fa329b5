"""What create, replace, delete and get share: reading rules for a write, kind and name
arguments (with shell completion), and the namespace rule.

The namespace rule (as istioctl had it): `-n` fills in documents that name no namespace;
a document that names a different one than `-n` is refused, never silently moved.
Without `-n`, a document's own namespace is used, else "default".
"""

from __future__ import annotations

import click

from meshtool.errors import DataError, UsageError
from meshtool.model.kinds import kind_names, resolve_kind, slug
from meshtool.model.resource import DEFAULT_NAMESPACE, Resource

KIND_HELP = ("routerule (rr), egressrule (er), destinationpolicy (dp), virtualservice (vs), "
             "destinationrule (dr), serviceentry (se), trafficroute, httproute, grpcroute")


def load_input(files: tuple[str, ...], namespace: str | None, *, quiet: bool = False,
               default_namespace: str | None = None, store: str | None = None) -> list[Resource]:
    """Every rule in the -f inputs, validated; DataError (nothing written) if any is bad.
    `default_namespace` (not -n: the kubeconfig context's) goes to rules that name none.
    Rules come as authored (a VirtualService stays one) for a store that keeps them so."""
    from meshtool.cli.render import report
    from meshtool.rules.loader import load_rules
    from meshtool.rules.sources import STDIN_NAME, read_sources
    from meshtool.store import stores_as_authored

    # The loader applies the namespace rule and reports every finding of every document.
    result = load_rules(read_sources(files), namespace=namespace, default_namespace=default_namespace,
                        authored=stores_as_authored(store))
    if result.findings:
        raise DataError(findings=result.findings)
    for where, what in result.skipped:
        report(f"{where}: {what} (skipped)", quiet)
    if not result.resources:
        names = (STDIN_NAME if f == "-" else f for f in files)
        raise DataError(f"no rules found in {', '.join(names)}")
    return result.resources


def kube_namespace(store: str | None, namespace: str | None, kubeconfig: str | None,
                   context: str | None) -> str | None:
    """For --store kubernetes without -n: the kubeconfig context's namespace (as kubectl)."""
    if namespace or store != "kubernetes":
        return None
    from meshtool.kube.client import context_namespace

    return context_namespace(kubeconfig, context)


def kind_of(name: str) -> str:
    """A kind as typed ('rr', 'RouteRules', 'route-rule') -> 'RouteRule'; UsageError if unknown."""
    kind = resolve_kind(name)
    if kind is None:
        raise UsageError(f'unknown kind "{name}"; use one of {KIND_HELP}')
    return kind


def keys_from_args(args: tuple[str, ...], namespace: str) -> list[tuple[str, str, str]]:
    """`KIND NAME...` or `KIND/NAME...` (as `get -o name` prints) -> store keys."""
    if not args:
        raise UsageError("give a KIND and NAMEs, KIND/NAME pairs, or -f FILE")
    if all("/" in a for a in args):
        pairs = [a.split("/", 1) for a in args]
    elif "/" in args[0] or any("/" in a for a in args[1:]):
        raise UsageError("give either KIND NAME... or KIND/NAME..., not both")
    elif len(args) == 1:
        raise UsageError(f"give the names of the {args[0]} to act on")
    else:
        pairs = [(args[0], n) for n in args[1:]]
    return [(kind_of(k), namespace, n) for k, n in pairs]


def effective_namespace(namespace: str | None) -> str:
    return namespace or DEFAULT_NAMESPACE


def name_form(res: Resource) -> str:
    """'route-rule/reviews-canary': what `get -o name` prints and `delete` accepts."""
    return f"{slug(res.kind)}/{res.name}"


# -- shell completion -------------------------------------------------------------------------

def complete_kind(ctx: click.Context, param: click.Parameter, incomplete: str):
    return [k for k in kind_names() if k.startswith(incomplete.lower())]


def complete_kind_or_all(ctx: click.Context, param: click.Parameter, incomplete: str):
    return (["all"] if "all".startswith(incomplete.lower()) else []) + complete_kind(
        ctx, param, incomplete)


def complete_name(ctx: click.Context, param: click.Parameter, incomplete: str):
    """Names of stored objects of the kind already typed; nothing when the store is unusable."""
    params = ctx.params
    kinds = params.get("kind") or (params.get("args") or [None])[0]
    kind = resolve_kind(kinds) if isinstance(kinds, str) else None
    if kind is None:
        return []
    try:
        from meshtool.store import open_store

        with open_store(params.get("store")) as store:
            names = [r.name for r in store.list(kind, effective_namespace(params.get("namespace")))]
    except Exception:  # noqa: BLE001 - completion must never print an error into the shell
        return []
    typed = set(params.get("names") or ()) | set((params.get("args") or ())[1:])
    return [n for n in names if n.startswith(incomplete) and n not in typed]


def complete_args(ctx: click.Context, param: click.Parameter, incomplete: str):
    """`delete KIND NAME...`: the first word is a kind, the rest are names."""
    if not ctx.params.get("args"):
        return complete_kind(ctx, param, incomplete)
    return complete_name(ctx, param, incomplete)
