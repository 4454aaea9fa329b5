"""`meshtool up` and `meshtool down`: the local mesh as processes on this machine."""

from __future__ import annotations

from pathlib import Path

import click

from meshtool.cli.options import store_option

state_dir_option = click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    envvar="MESHTOOL_LOCALMESH_DIR",
    help="Where the mesh records its processes and logs (default: $XDG_STATE_HOME/meshtool/localmesh).")


@click.command()
@click.option("-f", "--filename", "meshfile", required=True, metavar="MESH.yaml",
              help="The mesh file naming the services (see samples/*/mesh.yaml).")
@state_dir_option
@store_option
@click.option("--control-plane-port", type=click.IntRange(1, 65535), default=15010, show_default=True,
              help="Port of the control plane's discovery server on 127.0.0.1.")
@click.option("--timeout", type=click.FloatRange(min=1), default=30, show_default=True,
              help="Seconds each process may take to become ready.")
def up(meshfile: str, state_dir: Path | None, store: str | None, control_plane_port: int,
       timeout: float) -> int:
    """Start a local mesh: the control plane, each service and its sidecar, as processes.

    \b
    Logs go to files under the state directory; `meshtool down` stops exactly these processes.
    Rules written with `meshtool create` (same --store) reach the running mesh's sidecars.

    \b
    Examples:
      meshtool up -f samples/canary/mesh.yaml
      meshtool create -f samples/canary/rules/route-90-10.yaml
      meshtool proxy-status
      meshtool down
    """
    from meshtool.cli.localmesh_view import StartupTable
    from meshtool.localmesh.meshfile import load_meshfile
    from meshtool.localmesh.supervisor import up as start

    spec = load_meshfile(meshfile)
    with StartupTable(spec) as table:
        state = start(spec, state_dir, store=store, control_plane_port=control_plane_port,
                      timeout=timeout, listener=table.update)
    click.echo(f"mesh '{state.name}' is up: {len(state.processes)} processes, control plane "
               f"{state.control_plane}", err=True)
    for rec in state.processes:
        if rec.role == "sidecar":
            p = rec.ports
            click.echo(f"  {rec.instance}: send requests to 127.0.0.1:{p['inbound']} (its sidecar), "
                       f"admin 127.0.0.1:{p['admin']}", err=True)
        elif rec.role == "gateway":
            p = rec.ports
            https = f", https://127.0.0.1:{p['https']}" if p.get("https") else ""
            click.echo(f"  {rec.instance}: ingress gateway on http://127.0.0.1:{p['http']}{https}, "
                       f"admin 127.0.0.1:{p['admin']}", err=True)
        elif rec.role == "external":
            click.echo(f"  {rec.instance}: outside the mesh, on 127.0.0.1:{rec.ports['app']}", err=True)
    return 0


@click.command()
@state_dir_option
def down(state_dir: Path | None) -> int:
    """Stop the processes of the local mesh started by `meshtool up`, and only those.

    \b
    Example:
      meshtool down
    """
    from meshtool.localmesh.supervisor import MeshNotUp
    from meshtool.localmesh.supervisor import down as stop_mesh

    try:
        state, stopped = stop_mesh(state_dir)
    except MeshNotUp as exc:  # the wanted end state already holds: like `kubectl delete --ignore-not-found`
        click.echo(f"{exc}: nothing to stop", err=True)
        return 0
    click.echo(f"mesh '{state.name}' is down: stopped {len(stopped)} of {len(state.processes)} "
               f"processes", err=True)
    return 0
