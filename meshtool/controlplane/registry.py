"""The workload registry (local mode): connected sidecars are the endpoints of their services.

A sidecar's stream registers its workload (service, namespace, labels, inbound address) as an
endpoint. When the stream drops, the endpoint stays for a short grace period, so that a sidecar
that merely reconnects (or a control plane hiccup) does not make its service flap; after that it
is removed and `on_change` tells the control plane to push the new endpoint set.

With a shared registrations file (meshtool.controlplane.registrations) every registration is
also written there, and the registrations of other control-plane replicas (or of this one's
previous run) count as endpoints too: every replica pushes the whole mesh.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from meshtool.discovery.protocol import Identity, split_address
from meshtool.security.spiffe import workload_id

if TYPE_CHECKING:
    from meshtool.controlplane.registrations import SharedRegistrations, View


@dataclass(frozen=True)
class RegisteredProxy:
    """A connected sidecar's registration: who it is and which connection (not a Kubernetes
    workload, nor a mesh file's service instance)."""

    identity: Identity
    token: int  # which registration (connection) this is

    @property
    def endpoint(self) -> dict | None:
        if not self.identity.inbound_address:
            return None
        host, port = split_address(self.identity.inbound_address, default_port=0)
        if not port:
            return None
        return {"address": host, "port": port, "labels": dict(self.identity.labels)}


class WorkloadRegistry:
    def __init__(self, on_change: Callable[[], None], *, grace: float = 2.0):
        self.on_change = on_change
        self.grace = grace
        self._workloads: dict[str, RegisteredProxy] = {}
        self._removals: dict[str, asyncio.TimerHandle] = {}
        # unique across replicas and restarts: a token names one registration in a shared file
        self._tokens = itertools.count(secrets.randbits(40) << 20)
        self.generation = 0  # bumps whenever the endpoint set changes
        self._services: tuple[int, list[dict]] | None = None  # (generation, services())
        # The workloads that count (this replica's first, then the others'), by service, and
        # each service's entry: an endpoint change rebuilds only its own service's entry (at
        # 10,000 sidecars rebuilding every service took ~75 ms of the loop per change).
        self._members: dict[tuple[str, str], dict[str, RegisteredProxy]] = {}
        self._member_of: dict[str, tuple[str, str]] = {}  # proxy id -> its service
        self._entries: dict[tuple[str, str], dict] = {}
        self._stale: set[tuple[str, str]] = set()
        self.shared: SharedRegistrations | None = None
        self._others: dict[str, RegisteredProxy] = {}  # registered with other replicas (shared file)
        self.ready = True  # False until the shared file has been read once
        self.warming = 0  # registrations of a previous run not back yet (shared file)
        self.replicas: list[dict] = []  # the live replicas sharing the file
        # With a mesh CA: each endpoint carries the SPIFFE ID its certificate names, so that
        # callers originate mTLS to it and verify that identity.
        self.trust_domain: str | None = None

    def share(self, shared: SharedRegistrations) -> None:
        """Write registrations to `shared` and count those of other replicas; until its first
        read (`apply_view`) the registry is not ready."""
        self.shared, self.ready = shared, False

    def apply_view(self, view: View) -> None:
        """A read of the shared file: the other replicas' registrations."""
        others = {pid: RegisteredProxy(r.identity, r.token)
                  for pid, r in view.registrations.items()}
        self.ready, self.warming, self.replicas = True, view.warming, view.replicas
        if others != self._others:
            old, self._others = self._others, others
            for pid in old.keys() | others.keys():
                if old.get(pid) != others.get(pid) and pid not in self._workloads:
                    self._count(pid)
            self._changed()

    def register(self, identity: Identity) -> int:
        """Add (or refresh) the workload of a connected proxy; returns its registration token."""
        pid = identity.proxy_id
        pending = self._removals.pop(pid, None)
        if pending is not None:
            pending.cancel()
        old = self._workloads.get(pid)
        new = RegisteredProxy(identity, next(self._tokens))
        self._workloads[pid] = new
        self._count(pid)
        if self.shared is not None:
            self.shared.put(identity, new.token)
        if old is None or old.identity != identity:
            self._changed()
        return new.token

    def unregister(self, proxy_id: str, token: int) -> None:
        """The proxy's stream closed: remove its workload after the grace period, unless it
        registers again meanwhile. A token from an older connection is ignored."""
        current = self._workloads.get(proxy_id)
        if current is None or current.token != token:
            return
        if self.shared is not None:
            self.shared.lost(proxy_id, token)
        if self.grace <= 0:
            self._remove(proxy_id, token)
            return
        loop = asyncio.get_running_loop()
        self._removals[proxy_id] = loop.call_later(self.grace, self._remove, proxy_id, token)

    def _remove(self, proxy_id: str, token: int) -> None:
        self._removals.pop(proxy_id, None)
        current = self._workloads.get(proxy_id)
        if current is not None and current.token == token:
            del self._workloads[proxy_id]
            self._count(proxy_id)
            if self.shared is not None:
                self.shared.gone(proxy_id, token)
            self._changed()

    def _changed(self) -> None:
        self.generation += 1
        self.on_change()

    def _count(self, pid: str) -> None:
        """Put `pid`'s workload that counts (this replica's, else another's, else none) in
        its service's members; the services it left or joined are rebuilt at the next read."""
        w = self._workloads.get(pid) or self._others.get(pid)
        was = self._member_of.get(pid)
        before = self._members[was].pop(pid) if was is not None else None
        if w is None:
            self._member_of.pop(pid, None)
        else:
            self._member_of[pid] = key = _key(w)
            self._members.setdefault(key, {})[pid] = w
        if before is not None and (w is None or before.identity != w.identity):
            self._stale.add(was)
            if w is not None:
                self._stale.add(_key(w))
        elif before is None and w is not None:
            self._stale.add(_key(w))

    def __len__(self) -> int:
        return len(self._workloads)

    def services(self) -> list[dict]:
        """The snapshot's `services`: one entry per (namespace, service) with its endpoints,
        sorted so that the same registry always gives the same snapshot. Computed once per
        endpoint change (a rule change reuses it), rebuilding only the services whose
        endpoints changed; callers must not modify it."""
        if self._services is not None and self._services[0] == self.generation:
            return self._services[1]
        stale = self._stale if self._services is not None else set(self._members)
        for key in stale:
            members = self._members.get(key)
            if members:
                self._entries[key] = self._entry(key, members.values())
            else:
                self._members.pop(key, None)
                self._entries.pop(key, None)
        self._stale = set()
        out = [self._entries[key] for key in sorted(self._entries)]
        self._services = (self.generation, out)
        return out

    def _entry(self, key: tuple[str, str], workloads) -> dict:
        ports: set[int] = set()
        endpoints = []
        for w in workloads:
            ports.update(w.identity.ports)
            ep = w.endpoint
            if ep is not None:
                if self.trust_domain:
                    ep["identity"] = workload_spiffe_id(w.identity, self.trust_domain)
                endpoints.append((ep["address"], ep["port"], w.identity.proxy_id, ep))
        endpoints.sort(key=lambda e: e[:3])  # the proxy id orders two on one address
        return {"name": key[1], "namespace": key[0], "ports": sorted(ports),
                "endpoints": [e[3] for e in endpoints]}


def _key(w: RegisteredProxy) -> tuple[str, str]:
    return w.identity.namespace, w.identity.service


def workload_spiffe_id(identity: Identity, trust_domain: str) -> str:
    """The SPIFFE ID of a registered workload: its service account, by default its service."""
    return str(workload_id(identity.namespace, identity.service_account or identity.service,
                           trust_domain))
