"""The push protocol's messages (see the package docstring). Standard library only.

Parsers take a decoded JSON value and raise ValueError with a sentence saying what is wrong,
so that either side can close the stream with that reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from meshtool.conventions import DEFAULT_NAMESPACE, DISCOVERY_PORT

DEFAULT_PORT = DISCOVERY_PORT
DEFAULT_ADDRESS = f"127.0.0.1:{DEFAULT_PORT}"
STREAM_PATH = "/v1/stream"
SYNCZ_PATH = "/debug/syncz"
CONFIG_DUMP_PATH = "/debug/config_dump"
GRAPH_PATH = "/debug/graph"  # the service graph (meshtool graph, the dashboard)
RULES_PATH = "/debug/rules"  # the rules in force, as authored (the dashboard)

HELLO = "hello"
SNAPSHOT = "snapshot"  # the whole state (state of the world): old sidecars get only these
DELTA = "delta"  # changed and removed resources against a base version (docs/protocol.md)
RESYNC = "resync"  # sidecar -> control plane: "send me the full state"
ACK = "ack"
NACK = "nack"
CSR = "csr"  # sidecar -> control plane: a certificate signing request for its workload key
CERTIFICATE = "certificate"  # control plane -> sidecar: the signed chain (or why not)

# What a sidecar accepts, said in its hello's `accept` list; the control plane sends nothing
# else. Unknown capabilities are ignored, so either side can add some.
ACCEPT_DELTA = "delta"
ACCEPT_ZLIB = "zlib"  # large payloads in binary frames, zlib-compressed (see meshtool.discovery.wire)

PROXY_KINDS = ("sidecar", "gateway")

# The stream closes with this code (WebSocket "unsupported data") on a malformed message.
CLOSE_PROTOCOL_ERROR = 1003


def split_address(address: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """'host:port' | 'host' | 'ws://host:port/...' -> (host, port). ValueError when malformed."""
    text = address.strip()
    for scheme in ("ws://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    text = text.split("/", 1)[0]
    if not text:
        raise ValueError(f"address {address!r} names no host")
    if text.startswith("["):  # [::1]:15010
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host or any(c.isspace() or c in "[]/@" for c in host):
        raise ValueError(f"address {address!r} names no valid host")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"address {address!r} has a bad port {port_text!r}")
    return host, int(port_text)


def _url(scheme: str, address: str, path: str) -> str:
    host, port = split_address(address)
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}{path}"


def stream_url(address: str) -> str:
    return _url("ws", address, STREAM_PATH)


def http_url(address: str, path: str) -> str:
    return _url("http", address, path)


@dataclass(frozen=True)
class Identity:
    """Who a sidecar is: what it says in its hello, and what its rules' `source` matches (the
    one Identity of meshtool: the sidecar, the discovery client and the control plane share it)."""

    proxy_id: str = ""
    service: str = ""
    namespace: str = DEFAULT_NAMESPACE
    labels: dict[str, str] = field(default_factory=dict)
    inbound_address: str | None = None  # "host:port" other sidecars reach it at
    ports: tuple[int, ...] = ()  # the service ports clients address
    admin_address: str | None = None  # "host:port" of its admin listener
    service_account: str | None = None  # the workload's identity (SPIFFE .../sa/NAME)
    kind: str = "sidecar"  # sidecar | gateway (the edge proxy)
    # The pod's own IP ($INSTANCE_IP): its endpoint in the snapshot tells the sidecar its
    # cluster, region and zone when its labels do not (a pod cannot read its node's labels).
    address: str | None = None

    @property
    def version(self) -> str | None:
        return self.labels.get("version")

    def hello(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": HELLO, "proxyId": self.proxy_id, "service": self.service,
                               "namespace": self.namespace, "labels": dict(self.labels)}
        if self.inbound_address:
            msg["inboundAddress"] = self.inbound_address
        if self.ports:
            msg["ports"] = list(self.ports)
        if self.admin_address:
            msg["adminAddress"] = self.admin_address
        if self.service_account:
            msg["serviceAccount"] = self.service_account
        if self.kind != "sidecar":
            msg["kind"] = self.kind
        return msg


def _string(msg: dict, key: str, *, required: bool = True) -> str | None:
    value = msg.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{msg.get('type', 'message')}: {key} must be a non-empty string")
    return value


def _object(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    return value


def parse_hello(msg: Any) -> Identity:
    msg = _object(msg, "hello")
    if msg.get("type") != HELLO:
        raise ValueError(f"expected a hello first, got type {msg.get('type')!r}")
    labels = msg.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in labels.items()):
        raise ValueError("hello: labels must map strings to strings")
    inbound = _string(msg, "inboundAddress", required=False)
    if inbound is not None:
        split_address(inbound, default_port=0)
    ports = msg.get("ports") or []
    if not isinstance(ports, list) or not all(isinstance(p, int) and 0 < p < 65536 for p in ports):
        raise ValueError("hello: ports must be a list of port numbers")
    kind = msg.get("kind", "sidecar")
    if kind not in PROXY_KINDS:
        raise ValueError(f"hello: kind must be one of {', '.join(PROXY_KINDS)}, got {kind!r}")
    return Identity(proxy_id=_string(msg, "proxyId"), service=_string(msg, "service"), kind=kind,
                    namespace=_string(msg, "namespace", required=False) or DEFAULT_NAMESPACE,
                    labels=dict(labels), inbound_address=inbound, ports=tuple(ports),
                    admin_address=_string(msg, "adminAddress", required=False),
                    service_account=_string(msg, "serviceAccount", required=False))


def parse_accept(msg: dict) -> frozenset[str]:
    """The capabilities of a hello (an absent list: an old sidecar, full snapshots only)."""
    accept = msg.get("accept") or []
    if not isinstance(accept, list) or not all(isinstance(a, str) for a in accept):
        raise ValueError("hello: accept must be a list of strings")
    return frozenset(accept)


def parse_held(msg: dict) -> str | None:
    """The version a reconnecting sidecar still holds (hello `version`), if any."""
    return _string(msg, "version", required=False)


def _snapshot_head(version: str, nonce: str) -> str:
    return (f'{{"type":"{SNAPSHOT}","version":{json.dumps(version)},'
            f'"nonce":{json.dumps(nonce)},"snapshot":')


def encode_snapshot(version: str, nonce: str, snapshot_json: str) -> str:
    """The snapshot message, with the snapshot already encoded: the control plane encodes a
    snapshot once and sends it to many proxies, each with its own nonce."""
    return f"{_snapshot_head(version, nonce)}{snapshot_json}}}"


def encode_snapshot_bytes(version: str, nonce: str, snapshot_utf8: bytes) -> bytes:
    """encode_snapshot on UTF-8 bytes: the snapshot is encoded to bytes once, not per proxy."""
    return b"".join((_snapshot_head(version, nonce).encode(), snapshot_utf8, b"}"))


@dataclass(frozen=True)
class SnapshotMessage:
    version: str
    nonce: str
    snapshot: dict


def parse_snapshot(msg: Any) -> SnapshotMessage:
    msg = _object(msg, "message")
    if msg.get("type") != SNAPSHOT:
        raise ValueError(f"expected a snapshot, got type {msg.get('type')!r}")
    return SnapshotMessage(version=_string(msg, "version"), nonce=_string(msg, "nonce"),
                           snapshot=_object(msg.get("snapshot"), "snapshot: snapshot"))


@dataclass(frozen=True)
class DeltaMessage:
    """A delta: apply `update` on top of the state of version `base` (None: on top of nothing,
    the full state) to get the state of `version`."""

    version: str
    nonce: str
    base: str | None
    update: dict


def parse_delta(msg: Any) -> DeltaMessage:
    msg = _object(msg, "message")
    if msg.get("type") != DELTA:
        raise ValueError(f"expected a delta, got type {msg.get('type')!r}")
    return DeltaMessage(version=_string(msg, "version"), nonce=_string(msg, "nonce"),
                        base=_string(msg, "base", required=False),
                        update=_object(msg.get("update"), "delta: update"))


@dataclass(frozen=True)
class Reply:
    """A sidecar's answer to one snapshot."""

    type: str  # ACK | NACK
    version: str
    nonce: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.type == ACK

    def to_dict(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"type": self.type, "version": self.version, "nonce": self.nonce}
        if self.type == NACK:
            msg["error"] = self.error or "rejected"
        return msg


def ack(version: str, nonce: str) -> Reply:
    return Reply(ACK, version, nonce)


def nack(version: str, nonce: str, error: str) -> Reply:
    return Reply(NACK, version, nonce, error or "rejected")


def resync() -> dict[str, Any]:
    return {"type": RESYNC}


def parse_reply(msg: Any) -> Reply:
    msg = _object(msg, "reply")
    kind = msg.get("type")
    if kind not in (ACK, NACK):
        raise ValueError(f"expected an ack or nack, got type {kind!r}")
    error = None
    if kind == NACK:
        error = msg.get("error")
        if not isinstance(error, str):
            raise ValueError("nack: error must be a string")
    return Reply(kind, _string(msg, "version"), _string(msg, "nonce"), error)


# -- certificates (docs/protocol.md, "csr / certificate") ----------------------------------

@dataclass(frozen=True)
class CsrMessage:
    id: str  # echoed in the answer
    csr: str  # PEM; the identity comes from the hello, never from the CSR
    token: str | None = None  # Kubernetes: the pod's service account token (TokenReview)


def csr_message(request_id: str, csr_pem: str, token: str | None = None) -> dict[str, Any]:
    msg = {"type": CSR, "id": request_id, "csr": csr_pem}
    if token:
        msg["token"] = token
    return msg


def parse_csr(msg: Any) -> CsrMessage:
    msg = _object(msg, "csr")
    if msg.get("type") != CSR:
        raise ValueError(f"expected a csr, got type {msg.get('type')!r}")
    return CsrMessage(id=_string(msg, "id"), csr=_string(msg, "csr"),
                      token=_string(msg, "token", required=False))


@dataclass(frozen=True)
class CertificateMessage:
    id: str
    chain: tuple[str, ...] = ()  # PEM, the leaf first
    roots: tuple[str, ...] = ()  # PEM trust anchors
    error: str | None = None  # why no certificate was issued


def certificate_message(request_id: str, chain: list[str] | None = None,
                        roots: list[str] | None = None, error: str | None = None) -> dict:
    if error is not None:
        return {"type": CERTIFICATE, "id": request_id, "error": error}
    return {"type": CERTIFICATE, "id": request_id, "certChain": list(chain or ()),
            "rootCerts": list(roots or ())}


def parse_certificate(msg: Any) -> CertificateMessage:
    msg = _object(msg, "certificate")
    if msg.get("type") != CERTIFICATE:
        raise ValueError(f"expected a certificate, got type {msg.get('type')!r}")
    error = msg.get("error")
    if error is not None:
        if not isinstance(error, str):
            raise ValueError("certificate: error must be a string")
        return CertificateMessage(id=_string(msg, "id"), error=error)
    chain, roots = msg.get("certChain"), msg.get("rootCerts")
    for name, value in (("certChain", chain), ("rootCerts", roots)):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ValueError(f"certificate: {name} must be a non-empty list of PEM strings")
    return CertificateMessage(id=_string(msg, "id"), chain=tuple(chain), roots=tuple(roots))


# -- gateway certificates (docs/protocol.md, "tls") ----------------------------------------
# Control plane -> gateway only: the certificates and keys of the Secrets that gateway
# resources name (Kubernetes mode). Never sent to a sidecar; sent again whole on every change.
TLS = "tls"


@dataclass(frozen=True)
class ServedCertificate:
    name: str  # the Secret, "namespace/name"
    hosts: tuple[str, ...]  # () : the certificate's own DNS names
    chain: str  # PEM, the leaf first
    key: str  # PEM private key


@dataclass(frozen=True)
class TlsMessage:
    version: str
    certificates: tuple[ServedCertificate, ...]


def tls_message(version: str, certificates: list[ServedCertificate]) -> dict[str, Any]:
    return {"type": TLS, "version": version,
            "certificates": [{"name": c.name, "hosts": list(c.hosts), "certChain": c.chain,
                              "privateKey": c.key} for c in certificates]}


def parse_tls(msg: Any) -> TlsMessage:
    msg = _object(msg, "tls")
    if msg.get("type") != TLS:
        raise ValueError(f"expected tls, got type {msg.get('type')!r}")
    entries = msg.get("certificates")
    if not isinstance(entries, list):
        raise ValueError("tls: certificates must be a list")
    out = []
    for entry in entries:
        entry = _object(entry, "tls: a certificate")
        hosts = entry.get("hosts") or []
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise ValueError("tls: hosts must be a list of host names")
        out.append(ServedCertificate(_string(entry, "name"), tuple(hosts),
                                     _string(entry, "certChain"), _string(entry, "privateKey")))
    return TlsMessage(_string(msg, "version"), tuple(out))
