"""`meshtool demo SCENARIO`: a scenario of DESIGN.md run end to end on this machine, shown live."""

from __future__ import annotations

from pathlib import Path

import click

SCENARIO_NAMES = ("canary", "egress", "helloworld", "ingress")


@click.command()
@click.argument("scenario", type=click.Choice(SCENARIO_NAMES), default="canary")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the demo's mesh keeps its processes, logs and store "
                   "(default: $XDG_STATE_HOME/meshtool/demo-SCENARIO).")
@click.option("--timeout", type=click.FloatRange(min=1), default=30, show_default=True,
              help="Seconds each process may take to start, and rules to reach every sidecar.")
def demo(scenario: str, state_dir: Path | None, timeout: float) -> int:
    """Run a scenario end to end: start a local mesh, apply its rules stage by stage,
    drive traffic through the sidecars (or the gateway), check that what happened is exactly what the
    rules promise, show proxy-status, and stop the mesh.

    \b
    Scenarios (see samples/):
      canary      magnanimo -> benigno v1/v2: no rule, 90/10, 50/50, 100% v2
      egress      svca -> svcb -> msgd outside the mesh: denied, EgressRule, then
                  svcb v0.1 -> v0.2 50/50 and 100%
      helloworld  sleep -> helloworld v1/v2: an Istio VirtualService + DestinationRule
                  sending everything to v2
      ingress     from outside through the ingress gateway: the Kong Mesh walkthrough's
                  Ingress /route1 (strip-path) to magnanimo, then benigno's 90/10 split

    Exit status 0 when every stage observed exactly what its rules promise, 1 otherwise.

    \b
    Examples:
      meshtool demo canary
      meshtool demo egress --state-dir /tmp/egress-demo
    """
    from meshtool.cli.demo_view import DemoView
    from meshtool.localmesh import demo as engine
    from meshtool.localmesh.scenarios import SCENARIOS
    from meshtool.localmesh.supervisor import default_state_dir

    chosen = SCENARIOS[scenario]
    state_dir = state_dir or default_state_dir().with_name(f"demo-{scenario}")
    view = DemoView(chosen)
    try:
        ok = engine.run(chosen, view, state_dir, timeout=timeout)
    finally:
        view.close()
    view.summary(ok)
    return 0 if ok else 1
