"""Options shared by many commands, so that every command spells them the same way."""

from __future__ import annotations

import click

files_option = click.option(
    "-f", "--filename", "files", multiple=True, metavar="FILE|DIR|-", type=click.Path(),
    help="Input file, directory (recursive: .yaml, .yml, .json) or - for stdin. Repeatable.")

namespace_option = click.option(
    "-n", "--namespace", default=None, metavar="NS",
    help="Namespace (default: the document's own, else 'default').")

store_option = click.option(
    "--store", "store", envvar="MESHTOOL_STORE", default=None, metavar="PATH|kubernetes",
    type=click.Path(dir_okay=False),
    help="Config store: a SQLite file path or 'kubernetes'. "
         "Default: $MESHTOOL_STORE, else the local store under the XDG state directory.")

quiet_option = click.option("-q", "--quiet", is_flag=True, help="No report lines on stderr.")


def output_option(*choices: str, default: str):
    return click.option("-o", "--output", type=click.Choice(choices), default=default,
                        show_default=True, help="Output format.")


def kube_options(func):
    """--kubeconfig and --context; KUBECONFIG is honoured by the kubernetes client itself."""
    func = click.option("--context", default=None, help="Kubeconfig context to use.")(func)
    func = click.option("--kubeconfig", default=None, envvar="KUBECONFIG", metavar="PATH",
                        help="Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config).")(func)
    return func


dry_run_option = click.option(
    "--dry-run", type=click.Choice(["none", "client", "server"]), default="none",
    is_flag=False, flag_value="client", show_default=True,
    help="client: check the input only, touch no store; server: run every store check "
         "(exists, missing, stale resourceVersion) in a transaction that is rolled back.")


def store_write_options(func):
    """-f, -n, --store, --kubeconfig, --context, -q and --dry-run: what create, replace, apply
    and delete take."""
    for option in reversed((files_option, namespace_option, store_option, kube_options,
                            quiet_option, dry_run_option)):
        func = option(func)
    return func


def seconds(ctx, param, value):
    """Click callback: a DURATION option ("5ms", "2s", "1m") as seconds."""
    from meshtool.model.durations import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def default_control_plane(ctx: click.Context, address: str, param: str = "address") -> str:
    """`address` as given, or, when the option was left at its default, the control plane of
    the local mesh `meshtool up` started (if one runs)."""
    from click.core import ParameterSource

    if ctx.get_parameter_source(param) != ParameterSource.DEFAULT:
        return address
    from meshtool.localmesh.supervisor import local_control_plane

    return local_control_plane() or address
