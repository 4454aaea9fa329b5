"""`meshtool proxy init`: redirect the pod's TCP traffic through the sidecar (iptables)."""

from __future__ import annotations

import os
import shutil
import subprocess

import click

from meshtool.errors import MeshtoolError, UsageError


@click.command("init", epilog="""
\b
Examples:
  meshtool proxy init --dry-run
  meshtool proxy init --exclude-outbound-ip-ranges 10.96.0.0/12 --exclude-inbound-ports 22
""")
@click.option("--proxy-uid", type=click.IntRange(0, 2**31 - 1), default=1337, show_default=True,
              help="UID of the proxy: its own traffic is never redirected.")
@click.option("--outbound-port", type=click.IntRange(1, 65535), default=15001, show_default=True)
@click.option("--inbound-port", type=click.IntRange(1, 65535), default=15006, show_default=True)
@click.option("--admin-port", type=click.IntRange(1, 65535), default=15020, show_default=True,
              help="Never redirected, in either direction.")
@click.option("--health-port", type=click.IntRange(1, 65535), default=15021, show_default=True,
              help="The kubelet's probes reach the proxy there: never redirected inbound.")
@click.option("--include-outbound-ip-ranges", default="*", show_default=True, metavar="CIDRS",
              help="Comma-separated CIDRs whose outbound traffic is redirected; * for all.")
@click.option("--exclude-outbound-ip-ranges", default="", metavar="CIDRS")
@click.option("--include-inbound-ports", default="*", show_default=True, metavar="PORTS",
              help="Comma-separated ports whose inbound traffic is redirected; * for all, empty for none.")
@click.option("--exclude-inbound-ports", default="", metavar="PORTS")
@click.option("--exclude-outbound-ports", default="", metavar="PORTS")
@click.option("--dry-run", is_flag=True, help="Print the iptables-restore rules instead of applying them.")
def init(proxy_uid, outbound_port, inbound_port, admin_port, health_port,
         include_outbound_ip_ranges,
         exclude_outbound_ip_ranges, include_inbound_ports, exclude_inbound_ports,
         exclude_outbound_ports, dry_run) -> int:
    """Set up the traffic redirect of a pod (run as root, by the meshtool-init container).

    Outbound TCP goes to the proxy's outbound port, inbound TCP to its inbound port; the
    proxy's own UID, loopback and the admin port are never redirected.
    """
    from meshtool.inject.iptables import Redirect, parse_ip_ranges, parse_ports, rules

    try:
        redirect = Redirect(
            proxy_uid=proxy_uid, outbound_port=outbound_port, inbound_port=inbound_port,
            admin_port=admin_port, health_port=health_port,
            include_outbound_ip_ranges=parse_ip_ranges(include_outbound_ip_ranges, allow_star=True),
            exclude_outbound_ip_ranges=parse_ip_ranges(exclude_outbound_ip_ranges, allow_star=False),
            include_inbound_ports=parse_ports(include_inbound_ports, allow_star=True),
            exclude_inbound_ports=parse_ports(exclude_inbound_ports, allow_star=False),
            exclude_outbound_ports=parse_ports(exclude_outbound_ports, allow_star=False))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    text = rules(redirect)
    if dry_run:
        click.echo(text, nl=False)
        return 0
    apply_rules(text)
    click.echo("traffic redirect installed", err=True)
    return 0


def apply_rules(text: str) -> None:
    if os.geteuid() != 0:
        raise MeshtoolError("proxy init must run as root (it changes the pod's iptables rules)",
                            hint="use --dry-run to see the rules")
    exe = shutil.which("iptables-restore")
    if exe is None:
        raise MeshtoolError("iptables-restore not found; install iptables",
                            hint="use --dry-run to see the rules")
    _remove_jumps(shutil.which("iptables") or "iptables")
    done = subprocess.run([exe, "--noflush"], input=text, capture_output=True, text=True)
    if done.returncode != 0:
        raise MeshtoolError(f"iptables-restore failed: {done.stderr.strip() or done.returncode}")


def _remove_jumps(iptables: str) -> None:
    """An init container may run again in the same network namespace (a restart after a
    failure). Our chains are flushed by the restore itself; the jumps into them from the built-in
    chains would be appended twice, so take out any left from an earlier run first."""
    from meshtool.inject.iptables import JUMPS

    for builtin, chain in JUMPS:
        while subprocess.run([iptables, "-t", "nat", "-D", builtin, "-p", "tcp", "-j", chain],
                             capture_output=True).returncode == 0:
            pass
