"""The gateways' certificates: the Secrets gateway resources name, checked and pushed to
gateway proxies only (Kubernetes mode).

`bundle(references, lookup)` is pure: for each Secret named (meshtool.model.gatewaytls) it checks
that it is a `kubernetes.io/tls` Secret whose tls.crt is a PEM chain and tls.key that leaf's
private key, and returns the certificates to serve with their hosts, and the problems of those
it cannot serve, by the resource that named them. `GatewayCertificates` keeps the bundle for
the latest rules and Secrets, encoded once per change, and sends it on the push stream as a
`tls` message to each proxy whose hello says kind gateway and carries a service account token
the API server reviews (TokenReview) as the gateway's account, when it connects and whenever
the bundle changes; sidecars never get it (a private key must not reach every pod), nor does a
proxy that only says it is a gateway. A problem is
logged once and reported to the cluster as a Warning Event on the resource (kubestatus); the
other certificates keep being served.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import weakref
from dataclasses import dataclass, field
from typing import Callable, Iterable

from meshtool.controlplane.kubesecrets import TLS_TYPE, SecretInfo
from meshtool.discovery.protocol import ServedCertificate, tls_message
from meshtool.model.gatewaytls import TlsReference, tls_references

log = logging.getLogger("meshtool.controlplane")


@dataclass(frozen=True)
class Problem:
    reference: TlsReference
    message: str


@dataclass(frozen=True)
class Bundle:
    version: str
    certificates: tuple[ServedCertificate, ...] = ()
    problems: tuple[Problem, ...] = ()
    described: tuple[dict, ...] = field(default=(), compare=False)  # no keys: config_dump

    def describe(self) -> dict:
        return {"version": self.version, "certificates": list(self.described),
                "problems": [{"source": "/".join(p.reference.source), "secret":
                              p.reference.secret_id, "error": p.message} for p in self.problems]}


def check_pair(chain_pem: str, key_pem: str) -> tuple[list[str], dict]:
    """(the leaf's DNS names, a description without the key); ValueError saying what is wrong."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    try:
        chain = x509.load_pem_x509_certificates(chain_pem.encode())
    except ValueError:
        raise ValueError("tls.crt is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("tls.key is not an unencrypted PEM private key") from None
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    leaf = chain[0]
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        raise ValueError("tls.key is not the private key of the certificate in tls.crt")
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return ([str(n).lower() for n in names],
            {"serial": format(leaf.serial_number, "x"),
             "notAfter": leaf.not_valid_after_utc.isoformat()})


def bundle(references: Iterable[TlsReference],
           lookup: Callable[[str, str], SecretInfo | None]) -> Bundle:
    hosts: dict[str, list[str]] = {}  # secret id -> hosts, in the order of the references
    served: dict[str, tuple[SecretInfo, list[str], dict]] = {}
    sources: dict[str, list[str]] = {}
    problems: list[Problem] = []
    for ref in references:
        if ref.namespace != ref.source[1]:
            # Gateway API: a Secret of another namespace needs that namespace's ReferenceGrant,
            # which meshtool does not read; serving it anyway would let any Gateway author use
            # any namespace's certificate.
            problems.append(Problem(ref, f"Secret {ref.secret!r} is in namespace "
                                         f"{ref.namespace!r}, not the Gateway's: references "
                                         f"across namespaces need a ReferenceGrant, which "
                                         f"meshtool does not read yet; not served"))
            continue
        secret = lookup(ref.namespace, ref.secret)
        try:
            if secret is None:
                raise ValueError(f"Secret {ref.secret!r} (namespace {ref.namespace!r}) not found")
            if secret.type != TLS_TYPE:
                raise ValueError(f"Secret {ref.secret!r} (namespace {ref.namespace!r}) is of "
                                 f"type {secret.type!r}, not {TLS_TYPE}")
            if ref.secret_id not in served:
                try:
                    names, described = check_pair(secret.data.get("tls.crt", ""),
                                                  secret.data.get("tls.key", ""))
                except ValueError as exc:
                    raise ValueError(f"Secret {ref.secret!r} (namespace {ref.namespace!r}): "
                                     f"{exc}") from None
                served[ref.secret_id] = (secret, names, described)
        except ValueError as exc:
            problems.append(Problem(ref, str(exc)))
            continue
        own = served[ref.secret_id][1]
        listed = hosts.setdefault(ref.secret_id, [])
        listed += [h.lower() for h in (ref.hosts or own) if h.lower() not in listed]
        sources.setdefault(ref.secret_id, []).append("/".join(ref.source))
    certificates, described = [], []
    for sid, (secret, _, about) in served.items():
        certificates.append(ServedCertificate(sid, tuple(hosts[sid]), secret.data["tls.crt"],
                                              secret.data["tls.key"]))
        described.append({"secret": sid, "hosts": hosts[sid], "sources": sources[sid], **about})
    digest = hashlib.sha256(json.dumps(
        tls_message("", certificates), sort_keys=True).encode()).hexdigest()[:16]
    return Bundle(digest, tuple(certificates), tuple(problems), tuple(described))


class GatewayCertificates:
    """The bundle for the latest rules and Secrets, pushed to the gateway sessions."""

    def __init__(self, secrets, reporter=None, reviewer=None,
                 account: tuple[str, str] | None = None):
        self.secrets = secrets  # meshtool.controlplane.kubesecrets.KubernetesSecrets
        self.reporter = reporter  # KubeStatusReporter (its `certificates`), or None
        self.reviewer = reviewer  # meshtool.controlplane.tokenreview.TokenReviewer
        self.account = account  # (namespace, name): the gateway's service account
        # per gateway session: None while its token is reviewed, "" when it may have the
        # certificates, else why not
        self._verdicts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.references: list[TlsReference] = []
        self.bundle: Bundle | None = None  # None until the Secrets are listed
        self._message = ""
        self._reported: set[Problem] = set()
        self._sessions: Callable[[], Iterable] = lambda: ()

    def start(self, loop: asyncio.AbstractEventLoop, sessions: Callable[[], Iterable]) -> None:
        self._sessions = sessions
        self.secrets.start(loop, self._changed)

    def stop(self) -> None:
        self.secrets.stop()

    def rules_changed(self, rules: dict) -> None:
        references = tls_references(rules.values())
        if references != self.references:
            self.references = references
            self._changed()

    def _changed(self) -> None:
        if not self.secrets.ready:
            return
        new = bundle(self.references, self.secrets.get)
        problems = set(new.problems)
        for problem in sorted(problems - self._reported, key=lambda p: p.reference.source):
            log.warning("%s: TLS certificate not served: %s", "/".join(problem.reference.source),
                        problem.message)
        report = getattr(self.reporter, "certificates", None)
        if report is not None and problems - self._reported:
            report(sorted(problems - self._reported, key=lambda p: p.reference.source))
        self._reported = problems
        if self.bundle is not None and new.version == self.bundle.version:
            self.bundle = new  # the same certificates: the problems may differ
            return
        self.bundle = new
        self._message = json.dumps(tls_message(new.version, list(new.certificates)))
        log.info("gateway certificates version %s: %d served, %d not", new.version,
                 len(new.certificates), len(new.problems))
        for session in self._sessions():
            self.attach(session)

    def attach(self, session) -> None:
        """Send the bundle to this proxy if it is a gateway proven to run as the gateway's
        service account (reviewed once per stream) and lacks this version."""
        if session.identity.kind != "gateway" or session.closed:
            return
        if session not in self._verdicts:
            self._verdicts[session] = None
            asyncio.ensure_future(self._review(session))
            return
        if (self._verdicts[session] != "" or self.bundle is None
                or session.sync.tls.get("version") == self.bundle.version):
            return
        session.sync.tls = {"version": self.bundle.version,
                            "certificates": len(self.bundle.certificates)}
        asyncio.ensure_future(self._send(session, self._message))

    async def _review(self, session) -> None:
        why = ""
        if self.reviewer is None or self.account is None:
            why = "this control plane cannot review service account tokens"
        elif not session.credential:
            why = "its hello carries no service account token"
        else:
            try:
                proven = await asyncio.to_thread(self.reviewer.review, session.credential)
            except ValueError as exc:
                why = str(exc)
            else:
                if proven != self.account:
                    why = (f"its token is service account {proven[0]}/{proven[1]}'s, the "
                           f"gateway's is {self.account[0]}/{self.account[1]}")
        self._verdicts[session] = why
        session.credential = None  # reviewed: not kept
        if why:
            session.sync.tls = {"refused": f"no certificates: {why}"}
            log.warning("proxy %s says it is a gateway, but gets no certificates: %s",
                        session.identity.proxy_id, why)
            return
        self.attach(session)

    @staticmethod
    async def _send(session, message: str) -> None:
        try:
            await session.ws.send_str(message)
        except (ConnectionError, RuntimeError) as exc:
            log.info("proxy %s: sending the certificates failed: %s",
                     session.identity.proxy_id, exc)
