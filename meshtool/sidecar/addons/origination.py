"""TLS origination: the sidecar's TLS client for EgressRule ports with protocol https.

The app speaks plain HTTP to `http://host:443`; mitmproxy opens the TLS connection and asks
this addon (tls_start_server) for the client context: certificates verified against the
system store (SSL_CERT_FILE honoured) and the host name the app asked for, not the address it
resolved to (meshtool.tls_names, filled by the Egress addon). Tunnels (CONNECT, passed-through
TLS) never come here: the sidecar does not terminate or originate them.
"""

from __future__ import annotations

import ipaddress
import os
import ssl

from mitmproxy import tls


class Origination:
    def __init__(self, state):
        self.state = state
        self._context = None

    def _ssl_context(self):
        if self._context is None:
            from mitmproxy.net import tls as net_tls

            paths = ssl.get_default_verify_paths()
            self._context = net_tls.create_proxy_server_context(
                method=net_tls.Method.TLS_CLIENT_METHOD, min_version=net_tls.Version.TLS1_2,
                max_version=net_tls.Version.UNBOUNDED, cipher_list=None, ecdh_curve=None,
                verify=net_tls.Verify.VERIFY_PEER, ca_path=paths.capath,
                ca_pemfile=os.environ.get("SSL_CERT_FILE") or paths.cafile,
                client_cert=None, legacy_server_connect=False)
        return self._context

    def tls_start_server(self, data: tls.TlsData) -> None:
        from OpenSSL import SSL

        if data.ssl_conn is not None:
            return
        server = data.conn
        name = self.state.tls_names.get(tuple(server.address)) or server.sni or server.address[0]
        server.sni = name
        conn = SSL.Connection(self._ssl_context())
        param = SSL._lib.SSL_get0_param(conn._ssl)  # no public pyOpenSSL API for host checks
        try:
            packed = ipaddress.ip_address(name).packed
        except ValueError:
            encoded = name.encode("idna")
            conn.set_tlsext_host_name(encoded)
            SSL._openssl_assert(SSL._lib.X509_VERIFY_PARAM_set1_host(param, encoded, len(encoded)) == 1)
        else:
            SSL._openssl_assert(SSL._lib.X509_VERIFY_PARAM_set1_ip(param, packed, len(packed)) == 1)
        if server.alpn_offers:
            conn.set_alpn_protos(list(server.alpn_offers))
        conn.set_connect_state()
        data.ssl_conn = conn
