"""Egress: a destination outside the mesh is refused unless an EgressRule allows its host and port.

A refusal is a 403 whose headers say why and which EgressRule would allow the call. An allowed
port with protocol https means the sidecar originates TLS (the app speaks plain HTTP to
`http://host:443`). Reads meshtool.external; sets meshtool.upstream, meshtool.tls and, on a
refusal, meshtool.denied.
"""

from __future__ import annotations

from mitmproxy.proxy.mode_specs import ReverseMode
from mitmproxy import http, tls

from meshtool.model.hosts import host_matches
from meshtool.sidecar import flowkeys

TLS_PROTOCOLS = ("https",)


def allowing_rule(egress, host: str, port: int):
    """The first (most specific) EgressRule that allows host:port, or None."""
    for allow in egress:
        if host_matches(allow.pattern, host) and (allow.ports is None or port in allow.ports):
            return allow
    return None


def needed_rule(host: str, port: int) -> str:
    protocol = "https" if port == 443 else "http"
    return (f"EgressRule spec: {{destination: {{service: {host}}}, "
            f"ports: [{{port: {port}, protocol: {protocol}}}]}}")


class Egress:
    def __init__(self, state, inbound_port: int | None = None):
        self.state = state
        self.inbound_port = inbound_port

    def request(self, flow: http.HTTPFlow) -> None:
        md = flow.metadata
        if flow.response or flowkeys.EXTERNAL not in md:
            return
        host, port = md[flowkeys.EXTERNAL]
        allow = allowing_rule(md[flowkeys.SNAPSHOT].egress, host, port)
        if allow is None:
            self._deny(flow, host, port)
            return
        md[flowkeys.EGRESS_RULE] = allow.name
        md[flowkeys.TLS] = (allow.ports or {}).get(port) in TLS_PROTOCOLS
        up = md[flowkeys.UPSTREAM] = self.state.resolve(host, port)
        if md[flowkeys.TLS]:
            self.state.tls_names[tuple(up)] = host

    def http_connect(self, flow: http.HTTPFlow) -> None:
        """CONNECT through the explicit proxy: allowed hosts are tunnelled untouched."""
        snap = self.state.snapshot
        host, port = flow.request.host, flow.request.port
        if snap is not None and snap.by_host.get(host) is not None:
            return
        if snap is None or allowing_rule(snap.egress, host, port) is None:
            self._deny(flow, host, port)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        # We never terminate TLS: tunnels that got this far were allowed, pass them through.
        # (On the inbound port a ClientHello is a peer sidecar's mTLS: MutualTLS terminates it.)
        mode = data.context.client.proxy_mode
        if not isinstance(mode, ReverseMode) and mode.listen_port() != self.inbound_port:
            data.ignore_connection = True

    def _deny(self, flow: http.HTTPFlow, host: str, port: int) -> None:
        flow.metadata[flowkeys.DENIED] = host
        needed = needed_rule(host, port)
        ns = self.state.identity.namespace
        body = (f"egress to {host}:{port} denied: it is not a mesh service and no EgressRule "
                f"allows it\nto allow it, apply an {needed}\n"
                f"if {host} is a mesh service, it is outside this proxy's scope: a proxy "
                f"receives the services of its namespace ({ns}), those its rules name and those "
                f"a Sidecar resource exports to it; `meshtool simulate --proxy ID URL` shows "
                f"the scope\n")
        flow.response = http.Response.make(403, body.encode(), {
            "content-type": "text/plain",
            "x-meshtool-egress-denied": f"{host}:{port}",
            "x-meshtool-egress-needed": needed,
        })
