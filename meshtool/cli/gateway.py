"""`meshtool gateway ...`: the ingress gateway, the edge proxy for traffic entering the mesh."""

from __future__ import annotations

import click

from meshtool.cli.lazy import LazyGroup, Registry

GATEWAY_COMMANDS: Registry = {
    "run": ("meshtool.cli.gateway_run", "run", "Run the ingress gateway (Ingress, Gateway API, Istio Gateway)"),
}


@click.group(cls=LazyGroup, registry=GATEWAY_COMMANDS)
def gateway() -> None:
    """Ingress gateway commands: `gateway run` is the edge proxy (docs/gateway.md)."""
