"""The redirect settings of one pod: config defaults, overridden by its traffic annotations."""

from __future__ import annotations

from meshtool.inject.config import TRAFFIC_PREFIX, InjectConfig
from meshtool.inject.iptables import Redirect, parse_ip_ranges, parse_ports

# annotation suffix -> (Redirect field, parser, "*" allowed)
ANNOTATIONS = {
    "includeOutboundIPRanges": ("include_outbound_ip_ranges", parse_ip_ranges, True),
    "excludeOutboundIPRanges": ("exclude_outbound_ip_ranges", parse_ip_ranges, False),
    "includeInboundPorts": ("include_inbound_ports", parse_ports, True),
    "excludeInboundPorts": ("exclude_inbound_ports", parse_ports, False),
    "excludeOutboundPorts": ("exclude_outbound_ports", parse_ports, False),
}


class AnnotationError(ValueError):
    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def redirect_for(annotations: dict, config: InjectConfig) -> Redirect:
    """Raises AnnotationError naming the annotation whose value is wrong."""
    values = {}
    for suffix, (name, parse, star) in ANNOTATIONS.items():
        key = TRAFFIC_PREFIX + suffix
        text = annotations.get(key, getattr(config, name))
        try:
            values[name] = parse(text if text is not None else "", allow_star=star)
        except ValueError as exc:
            raise AnnotationError(key, str(exc)) from None
    unknown = [k for k in annotations if isinstance(k, str) and k.startswith(TRAFFIC_PREFIX)
               and k[len(TRAFFIC_PREFIX):] not in ANNOTATIONS]
    if unknown:
        raise AnnotationError(unknown[0], f"unknown traffic annotation; known: {', '.join(ANNOTATIONS)}")
    return Redirect(proxy_uid=config.proxy_uid, outbound_port=config.outbound_port,
                    inbound_port=config.inbound_port, admin_port=config.admin_port,
                    health_port=config.health_port, **values)


def init_args(r: Redirect) -> list[str]:
    """The `meshtool proxy init` arguments that reproduce `r`."""
    def joined(items) -> str:
        return ",".join(str(i) for i in items)

    args = ["proxy", "init", "--proxy-uid", str(r.proxy_uid), "--outbound-port", str(r.outbound_port),
            "--inbound-port", str(r.inbound_port), "--admin-port", str(r.admin_port),
            "--health-port", str(r.health_port),
            "--include-outbound-ip-ranges", joined(r.include_outbound_ip_ranges),
            "--include-inbound-ports", joined(r.include_inbound_ports)]
    for flag, items in (("--exclude-outbound-ip-ranges", r.exclude_outbound_ip_ranges),
                        ("--exclude-inbound-ports", r.exclude_inbound_ports),
                        ("--exclude-outbound-ports", r.exclude_outbound_ports)):
        if items:
            args += [flag, joined(items)]
    return args
