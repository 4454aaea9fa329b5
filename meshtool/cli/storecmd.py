"""What create, replace, delete and get share: reading rules for a write, kind and name
arguments (with shell completion), and the namespace rule.

The namespace rule (as istioctl had it): `-n` fills in documents that name no namespace;
a document that names a different one than `-n` is refused, never silently moved.
Without `-n`, a document's own namespace is used, else "default".
"""

from __future__ import annotations

import click

from meshtool.errors import DataError, Finding, UsageError
from meshtool.model.kinds import kind_help, kind_names, resolve_kind, slug
from meshtool.model.resource import DEFAULT_NAMESPACE, Resource

def load_input(files: tuple[str, ...], namespace: str | None, *, quiet: bool = False,
               default_namespace: str | None = None, unique: bool = True,
               store: str | None = None) -> list[Resource]:
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
    for where, what in result.warnings:
        report(f"{where}: warning: {what}", quiet)
    if not result.resources:
        names = (STDIN_NAME if f == "-" else f for f in files)
        raise DataError(f"no rules found in {', '.join(names)}")
    if unique:
        _refuse_duplicates(result.resources)
    _refuse_compiled_only(result.resources)
    return result.resources


def _refuse_compiled_only(resources: list[Resource]) -> None:
    """A store that keeps only native kinds (Kubernetes) has no CRD for a gateway route: the
    Ingress or Gateway it came from belongs in the API server as written, where the control
    plane reads it."""
    from meshtool.model.kinds import GATEWAY_ROUTE

    found = [Finding(f"{res.kind}/{res.name} is a route of the ingress gateway: create the "
                     f"Ingress (or Gateway API / Istio Gateway route) it comes from with kubectl "
                     f"apply; the control plane reads it from the API server", res.file, res.line,
                     None, f"{res.kind}/{res.name}")
             for res in resources if res.kind == GATEWAY_ROUTE]
    if found:
        raise DataError(findings=found)


def _refuse_duplicates(resources: list[Resource]) -> None:
    """One write names each rule once. A folder holding the stages of one rule (route-90-10,
    route-50-50, route-100-v2) is ambiguous: which stage is meant? Say so, and how to proceed."""
    first: dict[tuple[str, str, str], Resource] = {}
    findings = []
    for res in resources:
        seen = first.setdefault(res.key, res)
        if seen is not res:
            findings.append(Finding(f"{res.display} is also defined at {seen.where}: one call "
                                    f"writes each rule once", res.file, res.line, "metadata.name",
                                    f"{res.kind}/{res.name}"))
    if findings:
        raise DataError(findings=findings, hint="the files look like stages of one rule: write one "
                        "of them, then `meshtool apply -f` (or replace -f) the next")


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
        raise UsageError(f'unknown kind "{name}"; use one of {kind_help()}')
    return kind


def keys_from_args(args: tuple[str, ...], namespace: str) -> list[tuple[str, str, str]]:
    """`KIND NAME...`, `KIND/NAME...` or `KIND/NAMESPACE/NAME...` (as `get -o name` prints) -> keys."""
    if not args:
        raise UsageError("give a KIND and NAMEs, KIND/NAME pairs, or -f FILE")
    if all("/" in a for a in args):
        keys = []
        for a in args:
            parts = a.split("/")
            if len(parts) > 3 or not all(parts):
                raise UsageError(f'"{a}" is not KIND/NAME or KIND/NAMESPACE/NAME')
            kind, ns, name = (parts[0], namespace, parts[1]) if len(parts) == 2 else parts
            keys.append((kind_of(kind), ns, name))
        return keys
    if "/" in args[0] or any("/" in a for a in args[1:]):
        raise UsageError("give either KIND NAME... or KIND/NAME..., not both")
    if len(args) == 1:
        raise UsageError(f"give the names of the {args[0]} to act on")
    return [(kind_of(args[0]), namespace, n) for n in args[1:]]


def effective_namespace(namespace: str | None) -> str:
    return namespace or DEFAULT_NAMESPACE


def name_form(res: Resource) -> str:
    """'route-rule/default/reviews-canary': what `get -o name` prints and `delete` accepts; the
    namespace is in it so that `get -A -o name | xargs meshtool delete` deletes what it listed."""
    return f"{slug(res.kind)}/{res.namespace}/{res.name}"


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


def complete_args_or_all(ctx: click.Context, param: click.Parameter, incomplete: str):
    """`get KIND NAME...`: the first word is a kind or all, the rest are names."""
    if not ctx.params.get("args"):
        return complete_kind_or_all(ctx, param, incomplete)
    return complete_name(ctx, param, incomplete)


# -- writes and --dry-run -----------------------------------------------------------------------

DRY_RUN_NOTE = {"none": "", "client": " (dry run)", "server": " (server dry run)"}


def open_for_write(store: str | None, kubeconfig: str | None, context: str | None,
                   dry_run: str):
    """The store to write to; with --dry-run=server every write is checked, then rolled back."""
    from meshtool.store import open_store

    st = open_store(store, kubeconfig=kubeconfig, context=context)
    if dry_run == "server":
        if not hasattr(st, "dry_run"):
            st.close()
            raise UsageError("--dry-run=server needs the local store; with --store kubernetes use "
                             "--dry-run=client")
        st.dry_run = True
    return st


# -- delete -f: identities only -------------------------------------------------------------------

def keys_from_files(files: tuple[str, ...], namespace: str | None, *, quiet: bool = False,
                    default_namespace: str | None = None,
                    store: str | None = None) -> list[tuple[str, str, str]]:
    """The (kind, namespace, name) of each native rule in the -f inputs, without validating the
    rest of the document: deleting a rule must not need a spec that still passes the schema.
    Inputs with foreign rules (Istio, Kuma) go through the full loader, whose conversion names them."""
    from meshtool.model import convert
    from meshtool.model.convert import kuma
    from meshtool.model.kinds import NATIVE_API_VERSION, NATIVE_KINDS, list_items
    from meshtool.rules.sources import read_sources
    from meshtool.rules.yamlio import load_documents

    sources = read_sources(files)
    keys, findings = [], []
    for source in sources:
        try:
            docs = load_documents(source)
        except DataError as exc:
            findings.extend(exc.findings)
            continue
        for doc in docs:
            for _, data in list_items(doc.data):
                api, kind = (data.get("apiVersion"), data.get("kind")) if isinstance(data, dict) \
                    else (None, None)
                if kuma.is_universal(data) or (isinstance(api, str) and isinstance(kind, str)
                                               and convert.converter_for(api, kind) is not None):
                    return [r.key for r in load_input(files, namespace, quiet=quiet,
                                                      default_namespace=default_namespace,
                                                      unique=False, store=store)]
                if not (isinstance(data, dict) and data.get("apiVersion") == NATIVE_API_VERSION
                        and data.get("kind") in NATIVE_KINDS):
                    continue
                meta = data.get("metadata")
                name = meta.get("name") if isinstance(meta, dict) else None
                ns = meta.get("namespace") if isinstance(meta, dict) else None
                where = f"{data['kind']}/{name if isinstance(name, str) else '?'}"
                if not isinstance(name, str) or not name:
                    findings.append(Finding("a rule to delete needs its name", source.name,
                                            doc.content_line, "metadata.name", where))
                elif ns is not None and not isinstance(ns, str):
                    findings.append(Finding("must be a string", source.name, doc.content_line,
                                            "metadata.namespace", where))
                elif namespace and ns and ns != namespace:
                    findings.append(Finding(f'the document says namespace "{ns}" but -n says '
                                            f'"{namespace}"', source.name, doc.content_line,
                                            "metadata.namespace", where))
                else:
                    keys.append((data["kind"], ns or namespace or default_namespace
                                 or DEFAULT_NAMESPACE, name))
    if findings:
        raise DataError(findings=findings)
    if not keys:
        raise DataError(f"no rules found in {', '.join(files)}")
    return keys
