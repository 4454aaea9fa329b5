"""The traffic redirect of `meshtool proxy init`, as iptables-restore input.

Outbound TCP is redirected to the proxy's outbound port (15001), inbound TCP to its inbound
port (15006). Never redirected: the proxy's own traffic (its UID), loopback and the admin
port. The include/exclude lists narrow this down, as set by the
`traffic.sidecar.meshtool.io/*` annotations.
"""

from __future__ import annotations

from typing import NamedTuple

from meshtool.conventions import ADMIN_PORT, HEALTH_PORT, INBOUND_PORT, OUTBOUND_PORT, PROXY_UID

IN_CHAIN = "MESHTOOL_INBOUND"
IN_REDIRECT = "MESHTOOL_IN_REDIRECT"
OUT_CHAIN = "MESHTOOL_OUTPUT"
OUT_REDIRECT = "MESHTOOL_REDIRECT"
# (built-in chain, our chain): the only rules `proxy init` adds outside its own chains
JUMPS = (("PREROUTING", IN_CHAIN), ("OUTPUT", OUT_CHAIN))


class Redirect(NamedTuple):  # not a dataclass: cheaper to define at start-up (errors.Finding)
    proxy_uid: int = PROXY_UID
    outbound_port: int = OUTBOUND_PORT
    inbound_port: int = INBOUND_PORT
    admin_port: int = ADMIN_PORT
    health_port: int = HEALTH_PORT  # the kubelet's probes reach the sidecar there, never redirected
    include_outbound_ip_ranges: tuple[str, ...] = ("*",)  # ("*",) all, () none
    exclude_outbound_ip_ranges: tuple[str, ...] = ()
    include_inbound_ports: tuple[str, ...] = ("*",)
    exclude_inbound_ports: tuple[int, ...] = ()
    exclude_outbound_ports: tuple[int, ...] = ()


def parse_ip_ranges(text: str, *, allow_star: bool) -> tuple[str, ...]:
    """"10.0.0.0/8, 192.168.1.1" -> ("10.0.0.0/8", "192.168.1.1/32"); ValueError when wrong."""
    out = []
    for part in _items(text):
        if part == "*" and allow_star:
            return ("*",)
        import ipaddress  # only for explicit ranges: the defaults ("*", none) never need it

        try:
            net = ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ValueError(f"{part!r} is not an IP range (CIDR)") from None
        if net.version != 4:
            raise ValueError(f"{part!r}: only IPv4 ranges are supported")
        out.append(str(net))
    return tuple(out)


def parse_ports(text: str, *, allow_star: bool) -> tuple:
    out: list = []
    for part in _items(text):
        if part == "*" and allow_star:
            return ("*",)
        if not part.isdigit() or not 0 < int(part) < 65536:
            raise ValueError(f"{part!r} is not a port (1-65535)")
        out.append(int(part))
    return tuple(out)


def _items(text: str) -> list[str]:
    return [p.strip() for p in str(text).split(",") if p.strip()]


def rules(r: Redirect) -> str:
    """iptables-restore input for the nat table."""
    lines = ["*nat"]
    for chain in (IN_CHAIN, IN_REDIRECT, OUT_CHAIN, OUT_REDIRECT):
        lines.append(f":{chain} - [0:0]")
    lines.append(f"-A {IN_REDIRECT} -p tcp -j REDIRECT --to-ports {r.inbound_port}")
    lines.append(f"-A {OUT_REDIRECT} -p tcp -j REDIRECT --to-ports {r.outbound_port}")

    # Inbound: everything, or the listed ports; never the admin port or excluded ports.
    if r.include_inbound_ports:
        lines.append(f"-A PREROUTING -p tcp -j {IN_CHAIN}")
        lines.append(f"-A {IN_CHAIN} -p tcp --dport {r.admin_port} -j RETURN")
        lines.append(f"-A {IN_CHAIN} -p tcp --dport {r.health_port} -j RETURN")
        for port in r.exclude_inbound_ports:
            lines.append(f"-A {IN_CHAIN} -p tcp --dport {port} -j RETURN")
        lines += _redirects(IN_CHAIN, IN_REDIRECT, "--dport", r.include_inbound_ports)

    # Outbound: never the proxy itself, loopback or the admin port; then exclusions.
    lines.append(f"-A OUTPUT -p tcp -j {OUT_CHAIN}")
    lines.append(f"-A {OUT_CHAIN} -m owner --uid-owner {r.proxy_uid} -j RETURN")
    lines.append(f"-A {OUT_CHAIN} -o lo -j RETURN")
    lines.append(f"-A {OUT_CHAIN} -d 127.0.0.0/8 -j RETURN")
    lines.append(f"-A {OUT_CHAIN} -p tcp --dport {r.admin_port} -j RETURN")
    for port in r.exclude_outbound_ports:
        lines.append(f"-A {OUT_CHAIN} -p tcp --dport {port} -j RETURN")
    for cidr in r.exclude_outbound_ip_ranges:
        lines.append(f"-A {OUT_CHAIN} -d {cidr} -j RETURN")
    lines += _redirects(OUT_CHAIN, OUT_REDIRECT, "-d", r.include_outbound_ip_ranges)
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _redirects(chain: str, target: str, match: str, included: tuple) -> list[str]:
    """Jumps from `chain` to `target` for the included ports or ranges; ("*",): all TCP."""
    if included == ("*",):
        return [f"-A {chain} -p tcp -j {target}"]
    return [f"-A {chain} -p tcp {match} {item} -j {target}" for item in included]
