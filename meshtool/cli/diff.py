"""`meshtool diff -f FILE`: what `apply -f` would change in the config store, as a unified diff."""

from __future__ import annotations

import click

from meshtool.cli.options import files_option, kube_options, namespace_option, store_option


@click.command()
@files_option
@namespace_option
@store_option
@kube_options
def diff(files: tuple[str, ...], namespace: str | None, store: str | None,
         kubeconfig: str | None, context: str | None) -> int:
    """Show what `meshtool apply -f` would change, as a unified diff of YAML.

    Exit codes, as `kubectl diff`: 0 no differences, 1 differences found;
    bad input is 65, as for every command.

    \b
    Examples:
      meshtool diff -f samples/canary/rules/route-90-10.yaml
      meshtool diff -f samples/canary/rules/   # exit 1: each stage against the stored rule
    """
    import difflib

    from meshtool.cli.render import dump_yaml
    from meshtool.cli.storecmd import kube_namespace, load_input
    from meshtool.errors import NotFoundError
    from meshtool.store import open_store

    default_ns = kube_namespace(store, namespace, kubeconfig, context)
    # Alternatives of one rule (stages of a rollout) are fine here: each is diffed on its own.
    resources = load_input(files, namespace, quiet=True, default_namespace=default_ns, unique=False,
                           store=store)
    changed = False
    with open_store(store, kubeconfig=kubeconfig, context=context) as st:
        for res in resources:
            try:
                current = st.get(*res.key)
                before = dump_yaml(_comparable(current))
            except NotFoundError:
                before = ""
            after = dump_yaml(_comparable(res))
            if before == after:
                continue
            changed = True
            where = f" ({res.where})" if res.where else ""
            lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                         f"stored/{res.display}" if before else "/dev/null",
                                         f"input/{res.display}{where}")
            click.echo("".join(lines), nl=False)
    return 1 if changed else 0


def _comparable(res) -> dict:
    manifest = res.to_manifest()
    manifest["metadata"].pop("resourceVersion", None)  # apply compares content, not versions
    return manifest
