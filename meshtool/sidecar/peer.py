"""Who is on each end of a request: the metadata sidecars exchange so both can label metrics.

The caller's sidecar sends `x-meshtool-source: service;workload;namespace;version` with each
outbound request; the callee's sidecar answers with `x-meshtool-peer: workload;namespace;version`
on the response (and the caller's sidecar removes it). So the reporter on either side knows both
ends, whatever rule chose the endpoint. A workload is the proxy id up to its first dot: the
instance in the local mesh (`benigno-v1`), the pod name on Kubernetes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from meshtool.conventions import DEFAULT_NAMESPACE

SOURCE_HEADER = b"x-meshtool-source"
PEER_HEADER = b"x-meshtool-peer"
UNKNOWN = "unknown"
MAX_PEERS = 512  # distinct peer headers remembered; more (a misbehaving caller) label "unknown"


@dataclass(frozen=True)
class Peer:
    service: str
    workload: str
    namespace: str
    version: str


UNKNOWN_PEER = Peer(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN)


def local_peer(identity) -> Peer:
    """This sidecar's own end, from its identity."""
    workload = (identity.proxy_id or identity.service or UNKNOWN).split(".", 1)[0]
    namespace = getattr(identity, "namespace", None) or os.environ.get("POD_NAMESPACE")
    return Peer(identity.service or UNKNOWN, workload, namespace or DEFAULT_NAMESPACE,
                identity.labels.get("version", "") or UNKNOWN)


def source_value(peer: Peer) -> bytes:
    return f"{peer.service};{peer.workload};{peer.namespace};{peer.version}".encode()


def peer_value(peer: Peer) -> bytes:
    return f"{peer.workload};{peer.namespace};{peer.version}".encode()


class PeerCache:
    """Parses header values once: a mesh has few distinct peers, a request has one of them."""

    def __init__(self) -> None:
        self.sources: dict[bytes, Peer] = {}
        self.peers: dict[bytes, tuple[str, str, str]] = {}

    def source(self, raw: bytes | None) -> Peer:
        if not raw:
            return UNKNOWN_PEER
        got = self.sources.get(raw)
        if got is None:
            parts = raw.decode("latin-1").split(";")
            if len(parts) == 1:  # a caller sending only its service name
                parts = [parts[0], UNKNOWN, UNKNOWN, UNKNOWN]
            got = Peer(*(p or UNKNOWN for p in (parts + [UNKNOWN] * 4)[:4])) \
                if len(self.sources) < MAX_PEERS else UNKNOWN_PEER
            if len(self.sources) < MAX_PEERS:
                self.sources[raw] = got
        return got

    def destination(self, raw: bytes | None) -> tuple[str, str, str] | None:
        if not raw:
            return None
        got = self.peers.get(raw)
        if got is None:
            parts = raw.decode("latin-1").split(";")
            got = tuple((p or UNKNOWN for p in (parts + [UNKNOWN] * 3)[:3]))  # type: ignore
            if len(self.peers) < MAX_PEERS:
                self.peers[raw] = got
            else:
                got = (UNKNOWN, UNKNOWN, UNKNOWN)
        return got
