"""`meshtool dashboard`: serve the read-only web GUI for a control plane and print its URL."""

from __future__ import annotations

import click

from meshtool.cli.options import kube_options
from meshtool.cli.serving import log_level_option, serve_until_signal, setup_logging

DEFAULT_ADDRESS = "127.0.0.1:5681"


@click.command("dashboard")
@click.option("--address", default=DEFAULT_ADDRESS, show_default=True, metavar="HOST:PORT",
              help="Where the dashboard listens: loopback by default; 0.0.0.0:5681 exposes it.")
@click.option("--control-plane", "control_plane", default=None, envvar="MESHTOOL_CONTROL_PLANE",
              metavar="HOST:PORT",
              help="The control plane to show (default: the local mesh's when one is up, else "
                   "$MESHTOOL_CONTROL_PLANE, else 127.0.0.1:15010).")
@click.option("-k", "--kubernetes", is_flag=True,
              help="Show the cluster's control plane, read through the API server's service "
                   "proxy with the kubeconfig's credentials (no port-forward needed).")
@click.option("-n", "--namespace", default=None, metavar="NS",
              help="With --kubernetes: the control plane's namespace (default: meshtool-system).")
@kube_options
@log_level_option
def dashboard(address: str, control_plane: str | None, kubernetes: bool, namespace: str | None,
              kubeconfig: str | None, context: str | None, log_level: str) -> int:
    """Serve the web dashboard and print its URL (Ctrl-C stops it).

    \b
    Pages: overview, data plane proxies (SYNCED / STALE / NOT SENT / ERROR), services with
    their golden signals, the policies in force with their YAML, the service graph, and
    the traffic split of each weighted route. They update every second, without reload.
    Read-only: the dashboard changes nothing and shows no keys.

    \b
    Examples:
      meshtool dashboard
      meshtool dashboard --address 0.0.0.0:5681
      meshtool dashboard --control-plane 127.0.0.1:15010
      meshtool dashboard --kubernetes --context prod
    """
    from meshtool import __version__
    from meshtool.controlplane.dashboard.server import Dashboard
    from meshtool.discovery.protocol import split_address
    from meshtool.errors import UsageError

    try:
        host, port = split_address(address)
    except ValueError as exc:
        raise UsageError(f"--address: {exc}") from None
    if kubernetes:
        if control_plane:
            raise UsageError("--control-plane HOST:PORT and --kubernetes are two ways to reach "
                             "the control plane: give one")
        from meshtool.controlplane.kubeproxy import NAMESPACE, ServiceProxy
        from meshtool.kube.client import connect

        target = ServiceProxy(connect(kubeconfig, context).api_client, namespace or NAMESPACE)
        shown = f"the cluster's control plane ({namespace or NAMESPACE})"
    else:
        from meshtool.localmesh.supervisor import local_control_plane

        target = control_plane or local_control_plane() or "127.0.0.1:15010"
        shown = f"control plane {target}"
    setup_logging(log_level)

    async def serve(stop) -> None:
        board = Dashboard(target, __version__)
        url = await board.start(host, port)
        click.echo(url)
        click.echo(f"meshtool dashboard: showing {shown}; Ctrl-C stops it", err=True)
        try:
            await stop.wait()
        finally:
            await board.stop()

    serve_until_signal(serve, address)
    return 0
