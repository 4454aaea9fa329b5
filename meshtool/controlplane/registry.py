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
class Workload:
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
        self._workloads: dict[str, Workload] = {}
        self._removals: dict[str, asyncio.TimerHandle] = {}
        # unique across replicas and restarts: a token names one registration in a shared file
        self._tokens = itertools.count(secrets.randbits(40) << 20)
        self.generation = 0  # bumps whenever the endpoint set changes
        self._services: tuple[int, list[dict]] | None = None  # (generation, services())
        self.shared: SharedRegistrations | None = None
        self._others: dict[str, Workload] = {}  # registered with other replicas (shared file)
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
        others = {pid: Workload(r.identity, r.token) for pid, r in view.registrations.items()}
        self.ready, self.warming, self.replicas = True, view.warming, view.replicas
        if others != self._others:
            self._others = others
            self._changed()

    def register(self, identity: Identity) -> int:
        """Add (or refresh) the workload of a connected proxy; returns its registration token."""
        pid = identity.proxy_id
        pending = self._removals.pop(pid, None)
        if pending is not None:
            pending.cancel()
        old = self._workloads.get(pid)
        new = Workload(identity, next(self._tokens))
        self._workloads[pid] = new
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
            if self.shared is not None:
                self.shared.gone(proxy_id, token)
            self._changed()

    def _changed(self) -> None:
        self.generation += 1
        self.on_change()

    def __len__(self) -> int:
        return len(self._workloads)

    def services(self) -> list[dict]:
        """The snapshot's `services`: one entry per (namespace, service) with its endpoints,
        sorted so that the same registry always gives the same snapshot. Computed once per
        endpoint change (a rule change reuses it); callers must not modify it."""
        if self._services is not None and self._services[0] == self.generation:
            return self._services[1]
        by_key: dict[tuple[str, str], dict] = {}
        others = [w for pid, w in self._others.items() if pid not in self._workloads]
        for w in itertools.chain(self._workloads.values(), others):
            ident = w.identity
            svc = by_key.setdefault((ident.namespace, ident.service),
                                    {"name": ident.service, "namespace": ident.namespace,
                                     "ports": set(), "endpoints": []})
            svc["ports"].update(ident.ports)
            ep = w.endpoint
            if ep is not None:
                if self.trust_domain:
                    ep["identity"] = workload_spiffe_id(ident, self.trust_domain)
                svc["endpoints"].append(ep)
        out = []
        for key in sorted(by_key):
            svc = by_key[key]
            svc["ports"] = sorted(svc["ports"])
            svc["endpoints"].sort(key=lambda e: (e["address"], e["port"]))
            out.append(svc)
        self._services = (self.generation, out)
        return out


def workload_spiffe_id(identity: Identity, trust_domain: str) -> str:
    """The SPIFFE ID of a registered workload: its service account, by default its service."""
    return str(workload_id(identity.namespace, identity.service_account or identity.service,
                           trust_domain))
