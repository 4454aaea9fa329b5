"""`meshtool graph`: the service graph the control plane builds from the sidecars' metrics."""

from __future__ import annotations

import sys

import click

from meshtool.cli.options import kube_options, output_option

COLUMNS = ("SOURCE", "DESTINATION", "RPS", "ERRORS", "P50", "P99", "REQUESTS")


def _ms(v) -> str:
    return "-" if v is None else f"{v:.1f}ms"


def graph_rows(graph: dict) -> list[tuple[str, ...]]:
    return [(e["source"], e["destination"], f"{e['rps']:.2f}", f"{e['errorRate'] * 100:.1f}%",
             _ms(e["p50"]), _ms(e["p99"]), str(e["requests"])) for e in graph["edges"]]


@click.command("graph")
@click.option("--control-plane", "address", default="127.0.0.1:15010", show_default=False,
              envvar="MESHTOOL_CONTROL_PLANE", metavar="HOST:PORT",
              help="The control plane's discovery address (default: $MESHTOOL_CONTROL_PLANE, "
                   "else the one of the local mesh `meshtool up` started, else 127.0.0.1:15010).")
@output_option("table", "dot", "json", default="table")
@click.option("-k", "--kubernetes", is_flag=True,
              help="Read the cluster's control plane through the API server's service proxy.")
@click.option("-n", "--namespace", default=None, metavar="NS",
              help="With --kubernetes: the control plane's namespace (default: meshtool-system).")
@kube_options
@click.pass_context
def graph(ctx: click.Context, address: str, output: str, kubernetes: bool,
          namespace: str | None, kubeconfig: str | None, context: str | None) -> int:
    """Show who calls whom: request rate, error rate, p50/p99 per edge.

    \b
    Nodes are services at a version (service:version); edges carry what the callers'
    sidecars measured over the last minute. Requests from outside the mesh start at
    "unknown"; destinations outside the mesh are drawn dashed in DOT.

    \b
    Examples:
      meshtool graph
      meshtool graph -o dot | dot -Tsvg > mesh.svg
      meshtool graph -o json
      meshtool graph --control-plane 127.0.0.1:15010
    """
    from meshtool.cli.proxy_status import _format_table, _target
    from meshtool.controlplane.graph import to_dot
    from meshtool.controlplane.inspect import fetch_graph

    target = _target(ctx, address, kubernetes, namespace, kubeconfig, context)
    g = fetch_graph(target)
    if output == "json":
        from meshtool.cli.render import dump_json

        sys.stdout.write(dump_json(g))
    elif output == "dot":
        sys.stdout.write(to_dot(g))
    else:
        sys.stdout.write(_format_table(graph_rows(g), COLUMNS))
        if not g["edges"]:
            click.echo(f"no traffic in the last {g['window']:g}s (the graph is built from the "
                       f"sidecars' metrics while it is being looked at)", err=True)
    return 0
