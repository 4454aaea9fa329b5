"""The gateway: the edge proxy for traffic entering the mesh, on the sidecar's runtime.

The same embedded mitmproxy Master, push stream, ACK/NACK, admin port, limits and policy addons
as a sidecar (meshtool.sidecar.master.Sidecar); what differs is small and lives here:
- listeners: an HTTP port and, with certificates, an HTTPS port (TLS terminated by SNI, h2 or
  http/1.1 by ALPN); both accept requests in origin form, as a web server does;
- the policy list starts with GatewayRouting (host and path -> a mesh Service, or 404), after
  which the sidecar's routing, retries, timeouts, metrics and traces apply unchanged (egress
  is left out: a gateway reaches mesh Services only);
- the hello says kind "gateway" and offers no inbound address: a gateway is no endpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from meshtool.sidecar.master import Sidecar, SidecarConfig, build_addons
from meshtool.sidecar.tlsterm import CertificatePair, TlsTerminator

log = logging.getLogger("meshtool.sidecar")

# mitmproxy's reverse mode accepts origin-form requests; the upstream it names is never used,
# since every request gets its endpoints from GatewayRouting and routing (or an answer).
_UNUSED_UPSTREAM = "http://127.0.0.1:9"


@dataclass
class GatewayConfig(SidecarConfig):
    inbound_port: int | None = None
    outbound_port: int | None = None
    http_port: int | None = 8080
    https_port: int | None = None
    redirect_port: int | None = None  # the HTTPS port redirects name (default: https_port)
    certificates: list[CertificatePair] = field(default_factory=list)
    kind: str = "gateway"

    def modes(self) -> list[str]:
        return [f"reverse:{_UNUSED_UPSTREAM}@{self.host}:{port}"
                for port in (self.http_port, self.https_port) if port is not None]


    def listeners(self) -> list[str]:
        return [f"{scheme}@{self.host}:{port}" for scheme, port in
                (("http", self.http_port), ("https", self.https_port)) if port is not None]


class Gateway(Sidecar):
    config: GatewayConfig

    def __init__(self, config: GatewayConfig):
        super().__init__(config)
        # Files are read before any port is bound: a bad one stops the start. With an HTTPS
        # port and no file, the certificates come from the control plane (Secrets).
        self.tls = (TlsTerminator(config.certificates)
                    if config.certificates or config.https_port is not None else None)
        self.state.tls = self.tls
        self._unserved = False  # certificates pushed to a gateway with no HTTPS port: said once

    def build_addons(self) -> list:
        from meshtool.sidecar.addons.egress import Egress
        from meshtool.sidecar.addons.gateway import GatewayRouting

        # No Egress: a gateway only routes to mesh Services (GatewayRouting answers anything
        # else), and Egress passes TLS through untouched where the gateway terminates it.
        cfg = self.config
        return [GatewayRouting(self.state, cfg.redirect_port or cfg.https_port),
                *(a for a in build_addons(self.state, self.config, self.recorder)
                  if not isinstance(a, Egress))]

    def core_addons(self) -> list:
        return [self.tls] if self.tls is not None else []

    def _follow_control_plane(self) -> None:
        from meshtool.discovery.protocol import TLS

        super()._follow_control_plane()
        self.discovery.handlers[TLS] = self._install_certificates
        if self.config.token_file:  # proves its service account: certificates come only then
            self.discovery.hello_fields = self._token

    def _token(self) -> dict:
        """Read at each connect: a projected token is rotated by the kubelet."""
        try:
            with open(self.config.token_file, encoding="utf-8") as fh:
                return {"token": fh.read().strip()}
        except OSError as exc:
            log.warning("cannot read the service account token %s: %s", self.config.token_file,
                        exc)
            return {}

    def _install_certificates(self, message: dict) -> None:
        """The certificates of the Secrets gateway resources name, pushed at run time."""
        from meshtool.discovery.protocol import parse_tls

        parsed = parse_tls(message)
        if self.tls is None:
            if parsed.certificates and not self._unserved:
                self._unserved = True
                log.warning("the control plane sent %d certificates, but this gateway has no "
                            "HTTPS listener: start it with --https-port", len(parsed.certificates))
            return
        self.tls.install(parsed)
