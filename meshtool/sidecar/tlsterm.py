"""TLS termination for the gateway: one certificate per name, chosen by the client's SNI.

A core addon beside mitmproxy's proxy server: mitmproxy parses the ClientHello and asks
`tls_start_client` for the server side of the handshake; this hands it an OpenSSL connection
on the context whose certificate covers the SNI (an exact name first, then a wildcard, else the
first certificate given). ALPN offers h2 and http/1.1, so clients that speak HTTP/2 get it.
Certificates are PEM files (chain first) with their keys; each is loaded once, at start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("meshtool.sidecar")

ALPN = (b"h2", b"http/1.1")


@dataclass(frozen=True)
class CertificatePair:
    chain: str  # PEM file: the certificate, then its intermediates
    key: str  # PEM file: its private key


def certificate_names(chain_file: str) -> list[str]:
    """The DNS names (subjectAltName, else the common name) of the first certificate."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    with open(chain_file, "rb") as fh:
        cert = x509.load_pem_x509_certificate(fh.read())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return [str(n).lower() for n in names]


def _context(pair: CertificatePair):
    from OpenSSL import SSL

    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE)
    try:
        ctx.use_certificate_chain_file(pair.chain)
        ctx.use_privatekey_file(pair.key)
        ctx.check_privatekey()
    except SSL.Error as exc:
        raise ValueError(f"{pair.chain}, {pair.key}: not a certificate and its key: {exc}") from exc

    def select(conn, offered: list[bytes]) -> bytes:
        for proto in ALPN:
            if proto in offered:
                return proto
        return SSL.NO_OVERLAPPING_PROTOCOLS

    ctx.set_alpn_select_callback(select)
    return ctx


class TlsTerminator:
    """mitmproxy hooks: tls_start_client gets the context for the SNI."""

    def __init__(self, pairs: list[CertificatePair]):
        self.by_name: dict[str, object] = {}
        self.default = None
        for pair in pairs:
            try:
                names = certificate_names(pair.chain)
            except (OSError, ValueError) as exc:
                raise ValueError(f"{pair.chain}: cannot read the certificate: {exc}") from exc
            ctx = _context(pair)
            self.default = self.default or ctx
            for name in names:
                self.by_name.setdefault(name, ctx)

    @property
    def names(self) -> list[str]:
        return sorted(self.by_name)

    def choose(self, sni: str | None):
        if sni:
            sni = sni.lower().rstrip(".")
            if sni in self.by_name:
                return self.by_name[sni]
            parent = sni.split(".", 1)[1] if "." in sni else ""
            if f"*.{parent}" in self.by_name:
                return self.by_name[f"*.{parent}"]
        return self.default

    def tls_start_client(self, tls_start) -> None:
        from OpenSSL import SSL

        ctx = self.choose(tls_start.context.client.sni)
        if ctx is None:
            return  # no certificate at all: mitmproxy closes the connection and says so
        tls_start.ssl_conn = SSL.Connection(ctx)
        tls_start.ssl_conn.set_accept_state()
