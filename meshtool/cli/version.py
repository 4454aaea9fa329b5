"""`meshtool version`: this program's version and the control plane's, with a skew warning."""

from __future__ import annotations

import click

from meshtool.cli.options import output_option


@click.command()
@click.option("--client", is_flag=True, help="Only this meshtool's version; ask no control plane.")
@click.option("--control-plane", "address", default=None, envvar="MESHTOOL_CONTROL_PLANE",
              metavar="HOST:PORT",
              help="The control plane to ask (default: $MESHTOOL_CONTROL_PLANE, else the local "
                   "mesh's, else 127.0.0.1:15010).")
@output_option("text", "json", "yaml", default="text")
def version(client: bool, address: str | None, output: str) -> int:
    """Print the version of meshtool and of the control plane it talks to.

    Sidecars and the control plane of different minor versions may not understand each
    other: a skew is warned about on stderr. An unreachable control plane is reported, and
    the command still succeeds (the client's version is known).

    \b
    Examples:
      meshtool version --client
      meshtool version -o json
    """
    from meshtool import __version__
    from meshtool.errors import MeshtoolError

    info: dict = {"clientVersion": __version__}
    problem = None
    if not client:
        from meshtool.controlplane.inspect import fetch_sync_table
        from meshtool.localmesh.supervisor import local_control_plane

        address = address or local_control_plane() or "127.0.0.1:15010"
        try:
            table = fetch_sync_table(address, timeout=3.0, summary=True)
            info["controlPlaneVersion"] = table.get("meshtoolVersion") or "unknown"
            info["controlPlane"] = address
        except MeshtoolError as exc:
            problem = f"control plane at {address}: not reachable ({exc.lines()[0]})"
    if output == "json":
        from meshtool.cli.render import dump_json

        click.echo(dump_json(info), nl=False)
    elif output == "yaml":
        from meshtool.cli.render import dump_yaml

        click.echo(dump_yaml(info), nl=False)
    else:
        click.echo(f"Client Version: {__version__}")
        if "controlPlaneVersion" in info:
            click.echo(f"Control Plane Version: {info['controlPlaneVersion']} ({address})")
    if problem:
        click.echo(problem, err=True)
    skew = _skew(__version__, info.get("controlPlaneVersion"))
    if skew:
        click.echo(f"warning: {skew}", err=True)
    return 0


def _skew(mine: str, theirs: str | None) -> str | None:
    """A warning when major.minor differ (patch releases speak the same protocol)."""
    if not theirs or theirs == "unknown":
        return None
    a, b = mine.split(".")[:2], theirs.split(".")[:2]
    if a == b:
        return None
    return (f"meshtool {mine} and control plane {theirs} differ in their minor version: "
            f"upgrade the older one")
