"""The sidecar's workload certificate: its key is made here and never leaves the process; a
CSR goes to the control plane over the discovery stream (docs/protocol.md), the certificate
comes back and is renewed at half its life.

Each certificate gets its own pair of OpenSSL contexts (inbound: server, requiring a client
certificate; outbound: client, checking the peer's SPIFFE ID). New connections take the
contexts in force when they start and open connections keep theirs, so a renewal never drops
a connection.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Callable

from meshtool.discovery.protocol import CertificateMessage
from meshtool.security import spiffe, workload

log = logging.getLogger("meshtool.sidecar")

RETRY = 5.0  # seconds before asking again when a CSR got no answer or was refused


class TlsContexts:
    """The OpenSSL contexts made from one workload certificate."""

    def __init__(self, cert: workload.WorkloadCert):
        from OpenSSL import SSL, crypto

        def base() -> SSL.Context:
            ctx = SSL.Context(SSL.TLS_METHOD)
            ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
            ctx.use_certificate(crypto.X509.from_cryptography(cert.leaf))
            ctx.use_privatekey(crypto.PKey.from_cryptography_key(cert.key))
            ctx.check_privatekey()
            for extra in cert.chain[1:]:
                ctx.add_extra_chain_cert(crypto.X509.from_cryptography(extra))
            store = ctx.get_cert_store()
            for root in cert.roots:
                store.add_cert(crypto.X509.from_cryptography(root))
            return ctx

        self.cert = cert
        self.server = base()
        self.server.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _verify_chain)
        self.server.set_alpn_select_callback(_select_alpn)
        self.server.set_session_id(b"meshtool-inbound")
        self.client = base()
        self.client.set_verify(SSL.VERIFY_PEER, _verify_expected)


def _verify_chain(conn, x509, errno: int, depth: int, ok: int) -> bool:
    return bool(ok)


def _verify_expected(conn, x509, errno: int, depth: int, ok: int) -> bool:
    """The chain must verify and, at the leaf, name the SPIFFE ID the endpoint registered."""
    if not ok:
        return False
    if depth == 0:
        expected = conn.get_app_data()
        if expected:
            return spiffe.of_certificate(x509.to_cryptography()) == expected
    return True


def _select_alpn(conn, offers: list[bytes]) -> bytes:
    for proto in (b"h2", b"http/1.1"):
        if proto in offers:
            return proto
    from OpenSSL import SSL
    return SSL.NO_OVERLAPPING_PROTOCOLS


class CertificateManager:
    """Asks for, holds and renews the workload certificate (see the module docstring)."""

    def __init__(self, on_change: Callable[[], None] | None = None,
                 token_file: str | None = None):
        self.token_file = token_file  # Kubernetes: the pod's service account token, sent along
        self.contexts: TlsContexts | None = None  # None until the first certificate
        self.error: str | None = None  # why the last CSR was refused
        self.disabled = False  # the control plane has no CA: stop asking
        self.issued = 0
        self._pending: tuple[str, object] | None = None  # (request id, key)
        self._send: Callable[..., object] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._on_change = on_change
        self.answered = asyncio.Event()  # the first answer (a certificate or a refusal) came

    @property
    def current(self) -> workload.WorkloadCert | None:
        return self.contexts.cert if self.contexts else None

    def attach(self, client) -> None:
        """Ride on a DiscoveryClient: a CSR after each hello while one is due."""
        client.csr_source = self._csr_for_hello
        client.on_certificate = self.received
        self._send = client.send_csr

    def _request(self) -> tuple[str, str, str | None]:
        key = workload.new_key()
        request_id = secrets.token_hex(6)
        self._pending = (request_id, key)
        return request_id, workload.csr_pem(key), self._token()

    def _token(self) -> str | None:
        """Read at every request: projected tokens are rotated by the kubelet."""
        if not self.token_file:
            return None
        try:
            with open(self.token_file, encoding="utf-8") as fh:
                return fh.read().strip() or None
        except OSError as exc:
            log.warning("service account token %s unreadable: %s", self.token_file,
                        exc.strerror or exc)
            return None

    def _csr_for_hello(self) -> tuple[str, str, str | None] | None:
        if self.disabled:
            return None
        cert = self.current
        if cert is not None and self._pending is None and time.time() < self._renew_at(cert):
            return None
        return self._request()

    @staticmethod
    def _renew_at(cert: workload.WorkloadCert) -> float:
        return cert.not_before + (cert.not_after - cert.not_before) / 2

    def received(self, msg: CertificateMessage) -> None:
        if self._pending is None or msg.id != self._pending[0]:
            return  # an answer to a request we have since replaced
        _, key = self._pending
        self._pending = None
        if msg.error is not None:
            self.error = msg.error
            if "has no CA" in msg.error:
                self.disabled = True
                log.info("control plane issues no certificates (%s): plaintext only", msg.error)
            else:
                log.warning("certificate refused: %s; asking again in %.0fs", msg.error, RETRY)
                self._schedule(time.time() + RETRY)
            self.answered.set()
            return
        try:
            cert = workload.accept(key, list(msg.chain), list(msg.roots))
            contexts = TlsContexts(cert)
        except Exception as exc:  # noqa: BLE001 - a bad answer must leave the old certificate
            self.error = f"{exc}"
            log.warning("certificate from the control plane not usable: %s", exc)
            self._schedule(time.time() + RETRY)
            return
        self.contexts, self.error = contexts, None
        self.issued += 1
        log.info("workload certificate %s, serial %x, valid until %s", cert.spiffe_id,
                 cert.serial, time.strftime("%H:%M:%S", time.localtime(cert.not_after)))
        self._schedule(self._renew_at(cert))
        self.answered.set()
        if self._on_change is not None:
            self._on_change()

    def _schedule(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(0.0, at - time.time()), self._renew)

    def _renew(self) -> None:
        self._timer = None
        if self._send is None or self.disabled:
            return
        asyncio.ensure_future(self._send(*self._request()))  # not connected: sent after the hello
        self._schedule(time.time() + RETRY)  # no answer by then: ask again

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def describe(self) -> dict:
        """`proxy-config secret`: the chain, SPIFFE ID, serial and expiry; never the key."""
        cert = self.current
        out: dict = {"state": "active" if cert else ("disabled" if self.disabled else "pending"),
                     "error": self.error, "issued": self.issued}
        if cert is not None:
            out.update(cert.describe())
            out["renewAt"] = self._renew_at(cert)
        return out
