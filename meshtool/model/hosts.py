"""Host names: the Kubernetes Service a host names, and the host patterns of egress rules (exact
names, "*.domain" wildcards, "*", IPs and CIDRs)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

_KUBE_SVC = re.compile(r"^(?P<name>[^.]+)(?:\.(?P<ns>[^.]+)(?:\.svc(?:\..+)?)?)?\Z")


def kube_service(host: Any) -> tuple[str, str | None] | None:
    """'reviews' -> ('reviews', None); 'reviews.prod' and 'reviews.prod.svc.cluster.local'
    -> ('reviews', 'prod'); a host outside the cluster ('www.example.com') -> None."""
    if not isinstance(host, str):
        return None
    m = _KUBE_SVC.match(host.split(":", 1)[0])
    if not m or m.group("name") in ("", "*"):
        return None
    if host.count(".") >= 2 and ".svc" not in host:
        return None
    return m.group("name"), m.group("ns")


def is_ip_pattern(pattern: str) -> bool:
    """True for an IP address or a CIDR range."""
    try:
        ipaddress.ip_network(pattern, strict=False)
        return True
    except ValueError:
        return False


def host_matches(pattern: str, host: str) -> bool:
    """Does `host` (a name or an IP) fall under `pattern`? Case-insensitive for names.

    "*.example.com" matches "a.example.com" and "a.b.example.com" but not "example.com".
    """
    host = host.lower().rstrip(".")
    pattern = pattern.lower().rstrip(".")
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    if is_ip_pattern(pattern):
        try:
            return ipaddress.ip_address(host) in ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            return False
    return host == pattern


def specificity(pattern: str) -> tuple[int, int]:
    """Sort key: more specific patterns first (exact > longer wildcard > shorter > '*')."""
    if pattern == "*":
        return (0, 0)
    if pattern.startswith("*."):
        return (1, len(pattern))
    if is_ip_pattern(pattern):
        return (2, ipaddress.ip_network(pattern, strict=False).prefixlen)
    return (3, len(pattern))
