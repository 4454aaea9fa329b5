"""The sync table: per proxy, what the control plane sent and what the proxy answered.

One ProxySync per connected proxy. `status(latest)` says how the proxy stands against the
version the control plane intends for it:

- NOT SENT: nothing has been sent on this connection yet;
- SYNCED:   the proxy ACKed the latest version;
- ERROR:    the proxy NACKed the last snapshot sent (the reason is in `nack_error`);
- STALE:    anything else: a snapshot is on its way or unanswered, or a newer one is due.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from meshtool.conventions import CLUSTER_LABEL
from meshtool.discovery.protocol import Identity, Reply

SYNCED = "SYNCED"
STALE = "STALE"
NOT_SENT = "NOT SENT"
ERROR = "ERROR"
STATUSES = (SYNCED, STALE, NOT_SENT, ERROR)


@dataclass(slots=True)  # one per proxy: 10,000 of them, read by every status poll
class ProxySync:
    identity: Identity
    connected_since: float = field(default_factory=time.time)
    sent_version: str | None = None
    sent_nonce: str | None = None
    sent_at: float | None = None
    pushes: int = 0
    acked_version: str | None = None
    acked_nonce: str | None = None
    acked_at: float | None = None
    nack_version: str | None = None
    nack_nonce: str | None = None
    nack_error: str | None = None
    nack_at: float | None = None
    certificate: dict | None = None  # the last one issued: spiffeId, serial, notAfter
    tls: dict = field(default_factory=dict)  # a gateway's served certificates: version, count

    def sent(self, version: str, nonce: str) -> None:
        self.sent_version, self.sent_nonce, self.sent_at = version, nonce, time.time()
        self.pushes += 1

    def answered(self, reply: Reply) -> None:
        now = time.time()
        if reply.ok:
            self.acked_version, self.acked_nonce, self.acked_at = reply.version, reply.nonce, now
        else:
            self.nack_version, self.nack_nonce, self.nack_at = reply.version, reply.nonce, now
            self.nack_error = reply.error

    def status(self, latest: str | None) -> str:
        if self.sent_nonce is None:
            return NOT_SENT
        if self.nack_nonce is not None and self.nack_nonce == self.sent_nonce:
            return ERROR
        if self.acked_version is not None and self.acked_version == latest \
                and self.acked_nonce == self.sent_nonce:
            return SYNCED
        return STALE

    def to_dict(self, latest: str | None, control_plane: str) -> dict[str, Any]:
        ident = self.identity
        return {
            "proxyId": ident.proxy_id,
            "kind": ident.kind,
            "service": ident.service,
            "namespace": ident.namespace,
            "labels": ident.labels,
            "version": ident.version,
            "cluster": ident.labels.get(CLUSTER_LABEL),  # announced by the sidecar (--cluster)
            "inboundAddress": ident.inbound_address,
            "adminAddress": ident.admin_address,
            "controlPlane": control_plane,
            "connectedSince": self.connected_since,
            "status": self.status(latest),
            "intended": latest,
            "sent": _event(self.sent_version, self.sent_nonce, self.sent_at),
            "acked": _event(self.acked_version, self.acked_nonce, self.acked_at),
            "nacked": (None if self.nack_nonce is None else
                       {**_event(self.nack_version, self.nack_nonce, self.nack_at),
                        "error": self.nack_error}),
            "lastPush": self.sent_at,
            "pushes": self.pushes,
            **({"certificate": self.certificate} if self.certificate else {}),
            **({"tls": self.tls} if self.tls else {}),
        }


def _event(version: str | None, nonce: str | None, at: float | None) -> dict | None:
    if nonce is None:
        return None
    return {"version": version, "nonce": nonce, "time": at}
