"""`meshtool proxy ...`: the commands that run inside a pod (or beside a local service)."""

from __future__ import annotations

import click

from meshtool.cli.lazy import LazyGroup, Registry

PROXY_COMMANDS: Registry = {
    "init": ("meshtool.cli.proxy_init", "init", "Redirect the pod's traffic through the sidecar (iptables)"),
    "run": ("meshtool.cli.proxy_run", "run", "Run the sidecar proxy (mitmproxy-based) beside a workload"),
}


@click.group(cls=LazyGroup, registry=PROXY_COMMANDS)
def proxy() -> None:
    """Sidecar commands: `proxy init` sets up the traffic redirect, `proxy run` is the proxy."""
