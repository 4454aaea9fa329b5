"""`meshtool proxy-status`: which proxies have the control plane's latest snapshot."""

from __future__ import annotations

import sys

import click

from meshtool.cli.options import kube_options, output_option, seconds


def _format_table(rows: list[tuple[str, ...]], columns: tuple[str, ...]) -> str:
    """kubectl-style aligned columns: cheap for thousands of rows and friendly to grep/awk."""
    widths = [len(c) for c in columns]
    for r in rows:
        for i, cell in enumerate(r[:-1]):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    lines = []
    for r in (columns, *rows):
        lines.append("   ".join(cell.ljust(widths[i]) if i < len(r) - 1 else cell
                                for i, cell in enumerate(r)))
    return "\n".join(lines) + "\n"


def sync_table_view(table: dict):
    """The sync table as a rich Table (also shown by `meshtool demo`)."""
    from rich.table import Table

    from meshtool.controlplane.inspect import COLUMNS, rows

    colour = {"SYNCED": "green", "STALE": "yellow", "NOT SENT": "dim", "ERROR": "red"}
    t = Table(box=None, pad_edge=False, title_justify="left",
              title=f"control plane {table.get('controlPlane')}  version {table.get('version')}  "
                    f"store revision {table.get('storeRevision')}  "
                    f"{len(table.get('proxies') or [])} proxies")
    table_rows = rows(table)
    # a mesh of one cluster keeps its narrow table: CLUSTER only when some proxy names one
    shown = [i for i, c in enumerate(COLUMNS)
             if c != "CLUSTER" or any(r[i] != "-" for r in table_rows)]
    name_width = max((len(r[0]) for r in table_rows), default=4)
    for i in shown:  # names stay whole on a narrow terminal; the other columns give way
        t.add_column(COLUMNS[i], no_wrap=COLUMNS[i] != "STATUS",
                     min_width=name_width if COLUMNS[i] == "NAME" else None)
    at = COLUMNS.index("STATUS")
    for r in table_rows:
        status = r[at].split(":", 1)[0]
        cells = [*r[:at], f"[{colour.get(status, '')}]{r[at]}[/]" if status in colour else r[at],
                 *r[at + 1:]]
        t.add_row(*(cells[i] for i in shown))
    return t


def _watch(address, interval: float) -> int:
    import time

    from rich.live import Live

    from meshtool.cli.render import stdout_console
    from meshtool.controlplane.inspect import fetch_sync_table
    from meshtool.errors import MeshtoolError

    console = stdout_console()
    try:
        with Live(console=console, auto_refresh=False, screen=False) as live:
            while True:
                try:
                    live.update(sync_table_view(fetch_sync_table(address)), refresh=True)
                except MeshtoolError as exc:  # keep watching: the control plane may come back
                    live.update(f"[red]{exc}[/]", refresh=True)
                time.sleep(interval)
    except KeyboardInterrupt:
        return 0


def _compare(address, proxy: str, admin: str | None) -> int:
    from meshtool.controlplane.inspect import (diff_snapshots, fetch_intended, fetch_proxy_dump,
                                               fetch_sync_table, find_proxy)
    from meshtool.errors import MeshtoolError

    entry = find_proxy(fetch_sync_table(address), proxy)
    pid = entry["proxyId"]
    admin = admin or entry.get("adminAddress")
    if not admin:
        raise MeshtoolError(f"proxy {pid} did not announce an admin address",
                            hint="pass --admin HOST:PORT")
    intended = fetch_intended(address, pid)
    actual = fetch_proxy_dump(admin)
    lines = diff_snapshots(intended.get("snapshot"), actual.get("snapshot"), pid)
    if not lines:
        click.echo(f"proxy {pid} is in sync with control plane {entry.get('controlPlane')}: "
                   f"version {actual.get('version')}")
        return 0
    click.echo(f"proxy {pid} differs from control plane {entry.get('controlPlane')}: "
               f"in force {actual.get('version') or 'nothing'}, intended "
               f"{intended.get('version')} (status {entry.get('status')})")
    click.echo("\n".join(lines))
    return 1


def _target(ctx: click.Context, address: str, kubernetes: bool, namespace: str | None,
            kubeconfig: str | None, context: str | None):
    """HOST:PORT, or the cluster's control plane behind its Service with --kubernetes."""
    from click.core import ParameterSource

    from meshtool.errors import UsageError

    if not kubernetes:
        from meshtool.cli.options import default_control_plane

        address = default_control_plane(ctx, address)
        if namespace or context or ctx.get_parameter_source("kubeconfig") == \
                ParameterSource.COMMANDLINE:
            raise UsageError("-n, --context and --kubeconfig go with --kubernetes")
        return address
    if ctx.get_parameter_source("address") == ParameterSource.COMMANDLINE:
        raise UsageError("--control-plane HOST:PORT and --kubernetes are two ways to reach the "
                         "control plane: give one")
    from meshtool.controlplane.kubeproxy import NAMESPACE, ServiceProxy
    from meshtool.kube.client import connect

    return ServiceProxy(connect(kubeconfig, context).api_client, namespace or NAMESPACE)


@click.command("proxy-status")
@click.argument("proxy", required=False)
@click.option("--control-plane", "address", default="127.0.0.1:15010", show_default=False,
              envvar="MESHTOOL_CONTROL_PLANE", metavar="HOST:PORT",
              help="The control plane's discovery address, or several replicas separated by "
                   "commas (default: $MESHTOOL_CONTROL_PLANE, else the one of the local mesh "
                   "`meshtool up` started, else 127.0.0.1:15010). Replicas sharing its store "
                   "are found and shown too.")
@output_option("table", "json", "yaml", default="table")
@click.option("-w", "--watch", is_flag=True, help="Refresh the table in place until Ctrl-C.")
@click.option("--interval", default="1s", show_default=True, callback=seconds,
              metavar="DURATION", help="Refresh interval for --watch.")
@click.option("--admin", default=None, metavar="HOST:PORT",
              help="With PROXY: the proxy's admin address (default: the one it announced).")
@click.option("-k", "--kubernetes", is_flag=True,
              help="Read the cluster's control plane through the API server's service proxy "
                   "(service meshtool-control-plane:15010), with the kubeconfig's credentials.")
@click.option("-n", "--namespace", default=None, metavar="NS",
              help="With --kubernetes: the control plane's namespace (default: meshtool-system).")
@kube_options
@click.pass_context
def proxy_status(ctx: click.Context, proxy: str | None, address: str, output: str, watch: bool,
                 interval: float, admin: str | None, kubernetes: bool, namespace: str | None,
                 kubeconfig: str | None, context: str | None) -> int:
    """Show each proxy's sync status with the control plane.

    \b
    STATUS is SYNCED (ACKed the latest snapshot), STALE (sent, not ACKed yet, or a newer
    one is due), NOT SENT (nothing sent yet) or ERROR (the proxy rejected the last
    snapshot; the reason follows). MTLS is the inbound mode the proxy enforces (STRICT,
    PERMISSIVE, DISABLE) with its certificate's time left, or off:no-cert / off:no-CA when
    it holds no certificate: every link to and from it is plaintext. `meshtool proxy-config
    secret PROXY` lists the callers that still send it plaintext.

    \b
    With PROXY, compare that proxy's own /config_dump with what the control plane intends
    for it and print the difference: exit 0 when they match, 1 when they differ.

    \b
    Examples:
      meshtool proxy-status
      meshtool proxy-status -o json
      meshtool proxy-status --watch
      meshtool proxy-status benigno-v1.default
      meshtool proxy-status --kubernetes
      meshtool proxy-status --kubernetes --context prod -n mesh-system
      meshtool proxy-status --control-plane 127.0.0.1:15010
    """
    from meshtool.errors import UsageError

    address = _target(ctx, address, kubernetes, namespace, kubeconfig, context)
    if proxy and (watch or output != "table"):
        raise UsageError("PROXY compares one proxy's config: it takes no --watch or -o")
    if proxy:
        return _compare(address, proxy, admin)
    if watch:
        if output != "table":
            raise UsageError("--watch shows the table: it takes no -o")
        return _watch(address, interval)

    from meshtool.controlplane.inspect import COLUMNS, fetch_replica_tables, invalid_lines, rows

    table = fetch_replica_tables(address, warn=lambda m: click.echo(f"warning: {m}", err=True))
    if output == "json":
        from meshtool.cli.render import dump_json

        sys.stdout.write(dump_json(table))
    elif output == "yaml":
        from meshtool.cli.render import dump_yaml

        sys.stdout.write(dump_yaml(table))
    else:
        sys.stdout.write(_format_table(rows(table), COLUMNS))
        if not table.get("proxies"):
            click.echo(f"no proxies are connected to control plane {table.get('controlPlane')}",
                       err=True)
        for line in invalid_lines(table):
            click.echo(line, err=True)
    return 0
