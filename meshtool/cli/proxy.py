"""`meshtool proxy ...`: the commands that run inside a pod (or beside a local service)."""

from __future__ import annotations

import click

from meshtool.cli.lazy import LazyGroup, Registry

PROXY_COMMANDS: Registry = {
}


@click.group(cls=LazyGroup, registry=PROXY_COMMANDS)
def proxy() -> None:
    """Sidecar commands: `proxy init` sets up the traffic redirect, `proxy run` is the proxy."""
