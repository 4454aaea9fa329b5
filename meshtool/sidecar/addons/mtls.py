"""MutualTLS: the sidecar's end of mTLS between sidecars.

Inbound (tls_start_client): a connection whose first bytes are a TLS ClientHello (the next-layer
choice, meshtool.sidecar.nextlayer, decided PERMISSIVE/STRICT already) is terminated with the
workload certificate and must present a client certificate of the mesh; the peer's SPIFFE ID
is kept per connection and put in flow.metadata[flowkeys.PRINCIPAL] for the traffic
permissions. Outbound (tls_start_server): a connection to a mesh endpoint that has an identity
(state.mesh_peers, filled by Forward) is opened with TLS, our certificate, and a check that the
peer's certificate names exactly that endpoint's SPIFFE ID. ALPN offers h2 only when the app
spoke HTTP/2, so gRPC stays HTTP/2 end to end.
"""

from __future__ import annotations

import logging

from mitmproxy import http, tls
from mitmproxy.proxy.layers import HttpLayer

from meshtool.security import spiffe
from meshtool.sidecar import flowkeys

log = logging.getLogger("meshtool.sidecar")


class MutualTLS:
    def __init__(self, state, inbound_port: int | None):
        self.state = state
        self.inbound_port = inbound_port
        self.peers: dict[str, str] = {}  # client connection id -> verified SPIFFE ID

    def _contexts(self):
        certs = self.state.certs
        return certs.contexts if certs is not None else None

    def tls_start_client(self, data: tls.TlsData) -> None:
        from OpenSSL import SSL

        if data.ssl_conn is not None or \
                data.context.client.proxy_mode.listen_port() != self.inbound_port:
            return  # only inbound connections carry mTLS from a sidecar
        contexts = self._contexts()
        if contexts is None:
            log.warning("inbound TLS from %s refused: this sidecar has no workload certificate",
                        data.conn.peername[0] if data.conn.peername else "?")
            return  # mitmproxy closes the connection
        conn = SSL.Connection(contexts.server)
        conn.set_accept_state()
        data.ssl_conn = conn

    def tls_start_server(self, data: tls.TlsData) -> None:
        from OpenSSL import SSL

        if data.ssl_conn is not None or not data.conn.address:
            return
        expected = self.state.mesh_peers.get(tuple(data.conn.address[:2]))
        if expected is None:
            return  # not a mesh endpoint: TLS origination to the outside (Origination)
        contexts = self._contexts()
        if contexts is None:
            log.warning("mTLS to %s not possible: this sidecar has no workload certificate",
                        expected)
            return
        conn = SSL.Connection(contexts.client)
        conn.set_app_data(expected)  # what _verify_expected compares the peer's leaf with
        if any(isinstance(lay, HttpLayer) for lay in data.context.layers):
            h2 = data.context.client.alpn == b"h2"
            conn.set_alpn_protos([b"h2", b"http/1.1"] if h2 else [b"http/1.1"])
        # opaque TCP offers no ALPN, so the inbound sidecar relays it as TCP, not HTTP
        conn.set_connect_state()
        data.ssl_conn = conn

    def tls_established_client(self, data: tls.TlsData) -> None:
        chain = data.conn.certificate_list
        principal = spiffe.of_certificate(chain[0]._cert) if chain else None
        if principal is not None:
            self.peers[data.conn.id] = principal
        counts = self.state.inbound_connections
        key = ("mutual_tls", principal or "unknown")
        counts[key] = counts.get(key, 0) + 1

    def tls_failed_client(self, data: tls.TlsData) -> None:
        counts = self.state.inbound_connections
        counts[("tls_failed", "unknown")] = counts.get(("tls_failed", "unknown"), 0) + 1

    def client_disconnected(self, client) -> None:
        self.peers.pop(client.id, None)

    def request(self, flow: http.HTTPFlow) -> None:
        client = flow.client_conn
        principal = self.peers.get(client.id)
        if principal is not None:
            flow.metadata[flowkeys.PRINCIPAL] = principal
            flow.metadata[flowkeys.MTLS] = True
