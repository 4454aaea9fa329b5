"""The sidecar's state shared by its addons: the snapshot in force and how it got there.

`apply_snapshot` is the one way in for configuration (file reload now, control-plane push
later): it compiles the whole document first and swaps it in with one assignment, so a
request sees either the old tables or the new ones, never a mix. A request pins the snapshot
it started with in flow.metadata, so a swap never disturbs requests in flight.
"""

from __future__ import annotations

import time
from typing import Any

from meshtool.sidecar.resolve import Resolver
from meshtool.sidecar.snapshot import Identity, Snapshot, compile_snapshot


class SidecarState:
    def __init__(self, identity: Identity | None = None, resolve: dict[str, str] | None = None):
        self.identity = identity or Identity()
        self.resolve = Resolver(resolve)  # HOST[:PORT] -> ADDR[:PORT] overrides (--resolve)
        self.active: dict[str, int] = {}  # endpoint key -> requests in flight
        self.tls_names: dict[tuple, str] = {}  # (address, port) -> host name, for TLS origination
        self.unhealthy: set[str] = set()  # endpoint keys failing active health checks
        self.h2_upstreams: set[tuple] = set()  # (address, port) that speak h2c (gRPC seen there)
        self.certs = None  # meshtool.sidecar.certs.CertificateManager, following a control plane
        self.tls = None  # a gateway's TLS termination (meshtool.sidecar.tlsterm.TlsTerminator)
        self.mesh_peers: dict[tuple, str] = {}  # (address, port) of a mesh endpoint -> SPIFFE ID
        # inbound connections by (security: mutual_tls | plaintext | refused | tls_failed, source)
        self.inbound_connections: dict[tuple[str, str], int] = {}
        self.audited: dict[tuple[str, str], int] = {}  # (AUDIT policy, source) -> requests
        self.tcp_denied: dict[tuple[str, str], int] = {}  # (policy, source) -> TCP connections
        self.snapshot: Snapshot | None = None
        self.applied_at: float | None = None
        self.applied_total = 0
        self.rejected_total = 0
        self.last_rejected: dict[str, Any] | None = None
        self.listening = False
        self.source = ""  # where the snapshot in force came from: a file path, "control-plane"

    def apply_snapshot(self, doc: dict[str, Any], source: str = "") -> None:
        """Compile and swap in `doc`; ValueError (the NACK text) leaves the old one serving."""
        try:
            try:
                snap = compile_snapshot(doc, self.identity, self.active, previous=self.snapshot)
            except RecursionError:
                raise ValueError("snapshot nested too deeply to compile") from None
            except (TypeError, KeyError, AttributeError, IndexError) as exc:
                # a shape the compiler did not expect: a NACK, never a dead watcher
                raise ValueError(f"snapshot does not compile: {type(exc).__name__}: {exc}") from exc
        except ValueError as exc:
            self.rejected_total += 1
            version = doc.get("version") if isinstance(doc, dict) else None
            nonce = doc.get("nonce") if isinstance(doc, dict) else None
            self.last_rejected = {"version": version, "nonce": nonce, "error": str(exc),
                                  "at": time.time(), "source": source}
            raise
        self.snapshot = snap  # the atomic swap
        self.applied_at = time.time()
        self.applied_total += 1
        self.source = source

    @property
    def ready(self) -> bool:
        """Listening with a snapshot, and with the first answer to its CSR when it asked for a
        certificate (callers would otherwise reach it before it can speak mTLS)."""
        certs_settled = self.certs is None or self.certs.answered.is_set()
        return self.listening and self.snapshot is not None and certs_settled

    def inbound_mode(self, port: int | None = None) -> str:
        """PERMISSIVE (plaintext and mTLS), STRICT (mTLS only) or DISABLE, for this workload."""
        snap = self.snapshot
        if snap is None or snap.peer_modes is None:
            return "PERMISSIVE"
        return snap.peer_modes.mode(port)

    def inbound_view(self) -> dict[str, Any]:
        """What this sidecar accepts and has received: the mode (and the policy that set it) and
        the inbound connections by security and source, plaintext first (what `proxy-config
        secret` shows so that a user sees which callers still send plaintext)."""
        snap = self.snapshot
        modes = snap.peer_modes if snap is not None else None
        order = {"plaintext": 0, "refused": 1, "tls_failed": 2, "mutual_tls": 3}
        return {"mode": modes.default if modes else "PERMISSIVE",
                "policy": modes.policy if modes else None,
                "ports": {str(k): v for k, v in modes.ports.items()} if modes else {},
                "connections": [{"security": sec, "source": src, "count": n} for (sec, src), n in
                                sorted(self.inbound_connections.items(),
                                       key=lambda kv: (order.get(kv[0][0], 9), kv[0][1]))]}

    @property
    def version(self) -> str | None:
        return self.snapshot.version if self.snapshot else None

    def config_dump(self) -> dict[str, Any]:
        snap = self.snapshot
        return {
            "proxy": {"id": self.identity.proxy_id, "service": self.identity.service,
                      "labels": self.identity.labels},
            "version": snap.version if snap else None,
            "nonce": snap.nonce if snap else None,
            "source": self.source,
            "appliedAt": self.applied_at,
            "lastRejected": self.last_rejected,
            "unhealthy": sorted(self.unhealthy),
            "snapshot": snap.doc if snap else None,
            **({"tls": self.tls.describe()} if self.tls is not None else {}),
        }
