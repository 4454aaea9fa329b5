"""TLS termination for the gateway: one certificate per name, chosen by the client's SNI.

A core addon beside mitmproxy's proxy server: mitmproxy parses the ClientHello and asks
`tls_start_client` for the server side of the handshake; this hands it an OpenSSL connection
on the context whose certificate covers the SNI (an exact name first, then a wildcard, else the
first certificate given). ALPN offers h2 and http/1.1, so clients that speak HTTP/2 get it.
Certificates are PEM files (chain first) with their keys, loaded once at start, and the
Secrets the control plane pushes to gateways (Kubernetes mode), installed at run time.
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


def _new_context():
    from OpenSSL import SSL

    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE)

    def select(conn, offered: list[bytes]) -> bytes:
        for proto in ALPN:
            if proto in offered:
                return proto
        return SSL.NO_OVERLAPPING_PROTOCOLS

    ctx.set_alpn_select_callback(select)
    return ctx


def _context(pair: CertificatePair):
    from OpenSSL import SSL

    ctx = _new_context()
    try:
        ctx.use_certificate_chain_file(pair.chain)
        ctx.use_privatekey_file(pair.key)
        ctx.check_privatekey()
    except SSL.Error as exc:
        raise ValueError(f"{pair.chain}, {pair.key}: not a certificate and its key: {exc}") from exc
    return ctx


def pem_context(chain_pem: str, key_pem: str):
    """A context from PEM text (a pushed Secret): never written to a file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from OpenSSL import SSL

    ctx = _new_context()
    try:
        chain = x509.load_pem_x509_certificates(chain_pem.encode())
        ctx.use_certificate(chain[0])
        for extra in chain[1:]:
            ctx.add_extra_chain_cert(extra)
        ctx.use_privatekey(serialization.load_pem_private_key(key_pem.encode(), password=None))
        ctx.check_privatekey()
    except (SSL.Error, ValueError, TypeError) as exc:
        raise ValueError(f"not a certificate and its key: {exc}") from exc
    return ctx


class TlsTerminator:
    """mitmproxy hooks: tls_start_client gets the context for the SNI.

    Two sources of certificates: the --tls-cert files (read once, at start: a bad one stops
    the start) and those the control plane pushes (`install`, at run time: each replaces the
    previous set whole; one that does not load is logged once and left out, the others serve).
    A pushed certificate serves the hosts its resource lists, tried before the files' names; the
    default (no SNI, or no name matches) is the first file, else the first pushed certificate.
    """

    def __init__(self, pairs: list[CertificatePair]):
        self._files: list[tuple[list[str], object]] = []
        for pair in pairs:
            try:
                names = certificate_names(pair.chain)
            except (OSError, ValueError) as exc:
                raise ValueError(f"{pair.chain}: cannot read the certificate: {exc}") from exc
            self._files.append((names, _context(pair)))
        self.pushed_version: str | None = None
        self.pushed: list[dict] = []  # what was installed, for /config_dump (never the key)
        self._logged: set[tuple[str, str]] = set()
        self._table: tuple[dict, object] = ({}, None)
        self._build([])

    def _build(self, pushed: list[tuple[tuple[str, ...], object]]) -> None:
        by_name: dict[str, object] = {}
        for hosts, ctx in pushed:
            for host in hosts:
                by_name.setdefault(host.lower(), ctx)
        for names, ctx in self._files:
            for name in names:
                by_name.setdefault(name, ctx)
        default = (self._files[0][1] if self._files else pushed[0][1] if pushed else None)
        self._table = (by_name, default)  # one assignment: a handshake sees old or new

    def install(self, message) -> None:
        """Serve the certificates of a pushed `tls` message (meshtool.discovery.protocol)."""
        import hashlib

        contexts, described = [], []
        for cert in message.certificates:
            try:
                contexts.append((cert.hosts, pem_context(cert.chain, cert.key)))
                described.append({"secret": cert.name, "hosts": list(cert.hosts)})
            except ValueError as exc:
                seen = (cert.name, hashlib.sha256(cert.chain.encode()).hexdigest())
                if seen not in self._logged:
                    self._logged.add(seen)
                    log.error("certificate %s not served: %s", cert.name, exc)
                described.append({"secret": cert.name, "hosts": list(cert.hosts),
                                  "error": str(exc)})
        self._build(contexts)
        self.pushed_version, self.pushed = message.version, described
        log.info("certificates version %s installed: %d of %d", message.version,
                 len(contexts), len(message.certificates))

    @property
    def names(self) -> list[str]:
        return sorted(self._table[0])

    def describe(self) -> dict:
        return {"names": self.names, "pushedVersion": self.pushed_version,
                "pushed": self.pushed}

    def choose(self, sni: str | None):
        by_name, default = self._table
        if sni:
            sni = sni.lower().rstrip(".")
            if sni in by_name:
                return by_name[sni]
            parent = sni.split(".", 1)[1] if "." in sni else ""
            if f"*.{parent}" in by_name:
                return by_name[f"*.{parent}"]
        return default

    def tls_start_client(self, tls_start) -> None:
        from OpenSSL import SSL

        ctx = self.choose(tls_start.context.client.sni)
        if ctx is None:
            return  # no certificate at all: mitmproxy closes the connection and says so
        tls_start.ssl_conn = SSL.Connection(ctx)
        tls_start.ssl_conn.set_accept_state()
