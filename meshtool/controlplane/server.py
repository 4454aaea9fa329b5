"""The discovery server: push streams, the sync table, and the push scheduler.

One ControlPlane per process. It follows the store (rules) and the registry (endpoints), keeps
its state resource by resource (meshtool.controlplane.resources: each service and rule encoded
once per change), and pushes to every connected proxy what changed since the state that proxy
last ACKed (a delta), or the whole state to old sidecars and on (re)connect. Each update is
encoded once and shared by the proxies making the same move; every proxy has at most one update
unanswered, and the bytes unanswered across all proxies are bounded (meshtool.controlplane.window),
so a slow or stuck proxy delays nobody else and memory stays bounded whatever the fleet size.
Pushes are coalesced: the first rule change arms a short timer (`debounce`) and every change until
it fires joins the same push, so a burst of writes becomes one snapshot within a bounded delay.
Endpoint churn (sidecars coming and going) waits for a quiet period instead (`endpoint_debounce`
without a further endpoint change, at most `endpoint_max_delay` after the first one), because a
thousand sidecars reconnecting after a restart would otherwise mean a push to everyone for every
few that arrive.

HTTP surface (aiohttp, 127.0.0.1:15010 by default):
  GET /v1/stream                   the push stream (WebSocket; protocol in meshtool.discovery)
  GET /debug/syncz                 the sync table as JSON (?summary=1: counts by status)
  GET /debug/config_dump?proxy=ID  the snapshot the control plane intends for that proxy
  GET /debug/graph                 the service graph from the sidecars' metrics (meshtool graph)
  GET /debug/rules                 the rules in force, as authored (the dashboard's policies)
  GET /metrics                     Prometheus text: invalid resources left out, pushes

Every stored object passes meshtool.controlplane.isolation first: an invalid one is left out of
the snapshots and listed in the sync table (`invalid`), never sent to a sidecar.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from collections import deque
from typing import Any, Awaitable, Callable, Coroutine, Protocol

from aiohttp import WSMsgType, web

from meshtool import __version__
from meshtool.controlplane.churnlog import ChurnLog
from meshtool.controlplane.follower import StoreFollower
from meshtool.controlplane.inbox import Stream
from meshtool.controlplane.isolation import Isolation, Reporter
from meshtool.controlplane.mtlsstate import mtls_state
from meshtool.controlplane.registrations import SharedRegistrations, View
from meshtool.controlplane.registry import WorkloadRegistry
from meshtool.controlplane.resources import Kind, Updates, View, full_snapshot, make_view
from meshtool.controlplane.synctable import ProxySync
from meshtool.controlplane.window import ByteWindow
from meshtool.conventions import CLUSTER_LABEL, DEFAULT_NAMESPACE
from meshtool.discovery.protocol import (ACCEPT_DELTA, ACCEPT_ZLIB, ACK, CLOSE_PROTOCOL_ERROR,
                                         CONFIG_DUMP_PATH, CSR, GRAPH_PATH, NACK, RESYNC, RULES_PATH,
                                         STREAM_PATH, SYNCZ_PATH, Identity, parse_accept,
                                         parse_csr, parse_held, parse_hello, parse_reply,
                                         certificate_message)
from meshtool.discovery.snapshot import rule_id, service_id
from meshtool.model import native, scope as scoping
from meshtool.model.compile import Compiled, compile_resources
from meshtool.model.resource import Resource
from meshtool.model.types import PeerAuth
from meshtool.store.base import Key, Store

log = logging.getLogger("meshtool.controlplane")

METRICS_PATH = "/metrics"

HELLO_TIMEOUT = 10.0
WINDOW_BYTES = 64 * 1024 * 1024  # sent and unanswered, across all proxies
STALL = 5.0  # seconds an unanswered update counts against the window
RECENT_VIEWS = 64  # versions a reconnecting proxy can resume from with a delta


class WorkloadSource(Protocol):
    """Where endpoints come from instead of the sidecars' registrations (Kubernetes mode:
    meshtool.controlplane.kubewatch.KubernetesWorkloads)."""

    ready: bool  # listed once: until then no snapshot is sent

    def start(self, loop: asyncio.AbstractEventLoop, on_change: Callable[[], None]) -> None: ...

    def stop(self) -> None: ...

    def services(self) -> list[dict]: ...

    # Optional: name_identities(trust_domain), called when the control plane runs a CA, so
    # that the endpoints of meshed pods carry their SPIFFE IDs.


@dataclass(eq=False)
class Inflight:
    """An update sent to one proxy and not answered yet."""

    nonce: str
    view: View
    share: int  # its bytes in the window (0 once released)


@dataclass(eq=False)
class Session:
    """One connected proxy: its stream, its sync record, its send state."""

    ws: web.WebSocketResponse
    sync: ProxySync
    accept: frozenset[str] = frozenset()  # what it said it accepts in its hello
    token: int = 0
    held: View | None = None  # the state it ACKed last: deltas are computed from it
    inflight: Inflight | None = None  # at most one update unanswered
    nacked: str | None = None  # the version it rejected: not sent again until something changes
    scope: scoping.Scope | None = None  # what it receives (meshtool.model.scope)
    scope_generation: int = -1  # of the Sidecars it was computed from
    view: tuple | None = None  # (state, scopes generation, its view of that state): the last asked
    sending: bool = False  # a sender task is running for this session
    credential: str | None = None  # a gateway's service account token (its hello's `token`)
    closed: bool = False

    @property
    def identity(self) -> Identity:
        return self.sync.identity


def eager(coro: Coroutine) -> None:
    """Run `coro` now, up to its first suspension (most sends never suspend: the frame fits in
    the window and the socket), and only then as a task: a task per proxy per push would cost
    more than the send itself at thousands of proxies."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return
    except Exception:  # noqa: BLE001 - a bug in one send must not stop the others
        log.exception("send failed")
        return
    asyncio.ensure_future(_resume(coro, waiting))


async def _resume(coro: Coroutine, waiting: Any) -> None:
    """Drive a coroutine started by `eager` from where it stopped: each time, wait for what it
    waits for, then let it go on (it reads the result or exception itself)."""
    try:
        while True:
            if waiting is None:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            else:
                await asyncio.wait([waiting])
            waiting = coro.send(None)
    except StopIteration:
        pass
    except asyncio.CancelledError:
        coro.close()
        raise


class Stalls:
    """Updates sent and unanswered, oldest first; those older than `stall` seconds are released
    from the window by one timer (not one timer per send)."""

    def __init__(self, stall: float, release: Callable[[Inflight], None]):
        self.stall = stall
        self._release = release
        self._queue: deque[tuple[float, Inflight]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, inflight: Inflight) -> None:
        loop = asyncio.get_running_loop()
        self._queue.append((loop.time() + self.stall, inflight))
        if self._timer is None:
            self._timer = loop.call_at(self._queue[0][0], self._expire)

    def _expire(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._queue and self._queue[0][0] <= now:
            self._release(self._queue.popleft()[1])  # a no-op when answered meanwhile
        self._timer = (loop.call_at(self._queue[0][0], self._expire) if self._queue else None)


class ControlPlane:
    def __init__(self, open_store: Callable[[], Store] | None, *, instance: str | None = None,
                 debounce: float = 0.005, endpoint_debounce: float = 0.05,
                 endpoint_max_delay: float = 1.0, grace: float = 2.0, heartbeat: float = 30.0,
                 workloads: WorkloadSource | None = None, registrations: str | None = None,
                 warmup: float = 10.0, reporter: Reporter | None = None,
                 window: int = WINDOW_BYTES, stall: float = STALL,
                 ca=None, cert_ttl: float = 24 * 3600.0, token_reviewer=None,
                 credentials=None, gateway_account: tuple[str, str] | None = None):
        self._open_store = open_store
        self.workloads = workloads  # None: connected sidecars are the endpoints (local mode)
        self.instance = instance or f"{socket.gethostname()}-{os.getpid()}"
        self.debounce = debounce
        self.endpoint_debounce = endpoint_debounce
        self.endpoint_max_delay = endpoint_max_delay
        self._endpoints_first: float | None = None  # loop time of the first unpushed change
        self._endpoints_last = 0.0
        self._rules_pending = False
        self.heartbeat = heartbeat
        self.registry = WorkloadRegistry(self._endpoints_changed, grace=grace)
        self.ca = ca  # a meshtool.security.ca.MeshCA: sidecars' CSRs are signed (None: refused)
        self.cert_ttl = cert_ttl
        self.token_reviewer = token_reviewer  # Kubernetes mode: CSRs carry a token to review
        if ca is not None:
            self.registry.trust_domain = ca.trust_domain
            name_identities = getattr(workloads, "name_identities", None)  # Kubernetes
            if name_identities is not None:
                name_identities(ca.trust_domain)
        self.registrations = registrations  # the shared registrations file (local mode)
        self.warmup = warmup
        self._shared: SharedRegistrations | None = None
        self.sessions: dict[str, Session] = {}
        self.rules: dict[Key, Resource] = {}  # the valid ones: what snapshots are made of
        self.isolation = Isolation(reporter=reporter)
        self.gateway_certs = None  # Kubernetes mode: the Secrets gateway resources name
        if credentials is not None:  # a source of Secrets (kubesecrets.KubernetesSecrets)
            from meshtool.controlplane.gatewaycerts import GatewayCertificates

            self.gateway_certs = GatewayCertificates(credentials, reporter, token_reviewer,
                                                     gateway_account)
        self.revision = 0
        self.loaded = open_store is None  # without a store there are no rules to wait for
        self.compiled = Compiled()  # the rules compiled, with what was left out and why
        self._service_entries = Kind("services", service_id)
        self._rule_entries = Kind("rules", rule_id)
        self.view: View | None = None  # the whole mesh's state, as one view: the latest
        self.released: View | None = None  # the state the push scheduler last released
        # Scopes: the Sidecars, each rule's visibility and services, the views per scope.
        self._sidecars: list[scoping.Sidecar] = []
        self._sidecar_generation = 0
        self._rule_scope: dict[str, tuple[str, object, frozenset]] = {}  # id -> (ns, exportTo, services)
        self._peer_auths: list[PeerAuth] = []  # the MTLSPolicies, compiled
        # Every proxy of one scope shares one Scope object (`_scopes`), so that the views are
        # found by its id, not by hashing the scope's host patterns ten thousand times a round.
        self._scopes: dict[scoping.Scope, scoping.Scope] = {}
        self._scoped: dict[tuple[str, int], View] = {}  # (state version, id(scope)) -> view
        self._scoped_generation = 0  # moves whenever _scoped is emptied
        self._last_scoped: dict[scoping.Scope, View] = {}
        self._recent: dict[str, View] = {}  # version -> view, the newest RECENT_VIEWS
        self.updates = Updates()
        self.window = ByteWindow(window)
        self.stall = stall
        self._stalls = Stalls(stall, self._release)
        self.bytes_sent = 0  # frames' bytes written to the streams
        self.changed_at: float | None = None  # wall time of the last rule or endpoint change
        self._dirty = True  # the state must be recomputed
        self._push_all = False
        self._due: set[Session] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._nonces = itertools.count(1)
        self._nonce_prefix = secrets.token_hex(3)
        self._follower: StoreFollower | None = None
        self._runner: web.AppRunner | None = None
        self.started = time.time()
        self.pushes = 0  # snapshots computed and pushed (coalesced bursts count once)
        self.address: str | None = None
        self._send_frame = hasattr(web.WebSocketResponse, "send_frame")  # aiohttp >= 3.11
        # Messages a proxy may send after its hello, by type (other issues add theirs here).
        self.handlers: dict[str, Callable[[Session, dict], Awaitable[None] | None]] = {
            ACK: self._on_reply, NACK: self._on_reply, RESYNC: self._on_resync,
            CSR: self._on_csr}
        from meshtool.controlplane.scrape import Scraper
        self.scraper = Scraper(self._scrape_targets)
        self.churn = ChurnLog(log, lambda: len(self.sessions))

    # -- application -------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(STREAM_PATH, self._stream)
        app.router.add_get(SYNCZ_PATH, self._syncz)
        app.router.add_get(CONFIG_DUMP_PATH, self._config_dump)
        app.router.add_get(GRAPH_PATH, self._graph)
        app.router.add_get(RULES_PATH, self._rules)
        app.router.add_get(METRICS_PATH, self._metrics)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 15010) -> str:
        loop = asyncio.get_running_loop()
        if self._open_store is not None:
            self._follower = StoreFollower(self._open_store, self._store_changed, loop)
            self._follower.start()
        if self.workloads is not None:
            self.workloads.start(loop, self._endpoints_changed)
        elif self.registrations is not None:
            self._shared = SharedRegistrations(
                self.registrations, f"{self.instance}#{secrets.token_hex(3)}", self._view, loop,
                address=lambda: self.address, grace=self.registry.grace, warmup=self.warmup)
            self.registry.share(self._shared)  # started once the address is known
        if self.gateway_certs is not None:  # sent to gateway proxies only, never to sidecars
            self.gateway_certs.start(loop, lambda: list(self.sessions.values()))
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=4096, reuse_address=True)
        await site.start()
        sock = site._server.sockets[0]  # the bound port, when 0 was asked for
        bound = sock.getsockname()
        self.address = f"{host}:{bound[1]}"
        if self._shared is not None:
            await loop.run_in_executor(None, self._shared.start)
        log.info("control plane %s listening on %s", self.instance, self.address)
        return self.address

    async def stop(self) -> None:
        closing = [s.ws.close(code=1001, message=b"control plane shutting down")
                   for s in self.sessions.values()]
        if closing:  # a paused proxy never answers the close: do not wait for it long
            await asyncio.wait([asyncio.ensure_future(c) for c in closing], timeout=2.0)
        await self.scraper.close()
        self.churn.flush()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._shared is not None:  # after the streams closed: their sidecars are marked lost
            await asyncio.get_running_loop().run_in_executor(None, self._shared.stop)
        if self._follower is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._follower.stop)
        if self.workloads is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.workloads.stop)
        if self.gateway_certs is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.gateway_certs.stop)
        if self._timer is not None:
            self._timer.cancel()

    # -- inputs --------------------------------------------------------------------------------
    def _store_changed(self, revision: int, rules: dict[Key, Resource]) -> None:
        first = not self.loaded
        valid = self.isolation.split(rules.values())
        self.rules, self.revision, self.loaded = valid, revision, True
        if self.gateway_certs is not None:
            self.gateway_certs.rules_changed(valid)
        left_out = f" ({len(rules) - len(valid)} invalid, left out)" if len(valid) < len(rules) else ""
        if first:
            log.info("store loaded at revision %d: %d rules%s", revision, len(valid), left_out)
        else:
            log.info("store at revision %d: %d rules%s", revision, len(valid), left_out)
        self._dirty = self._push_all = self._rules_pending = True
        self.changed_at = time.time()
        self._schedule(self.debounce)

    def _endpoints_changed(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._endpoints_first is None:
            self._endpoints_first = now
        self._endpoints_last = now
        self.changed_at = time.time()
        self._dirty = self._push_all = True
        self._schedule(self.endpoint_debounce)

    def _view(self, view: View) -> None:
        """A read of the shared registrations file."""
        first, was_warming = not self.registry.ready, self.warming
        self.registry.apply_view(view)
        if first:
            log.info("registrations read from %s: %d of other replicas or the previous run%s",
                     self.registrations, len(view.registrations),
                     f"; warming: waiting up to {self.warmup:g}s for {view.warming} sidecars "
                     f"to reconnect" if view.warming else "")
        elif was_warming and not self.warming:
            log.info("warm: the sidecars of the previous run are back or expired")
        if first or was_warming != self.warming:
            self._dirty = self._push_all = True
            self._schedule(self.debounce)

    @property
    def warming(self) -> bool:
        """Registrations of a previous run are still expected back: snapshots say they are
        not complete, and sidecars keep the endpoints they lack."""
        return self.registry.warming > 0

    def set_rules(self, revision: int, rules: list[Resource]) -> None:
        """Feed rules directly (embedding without a store, tests)."""
        self._store_changed(revision, {r.key: r for r in rules})

    # -- push scheduling ---------------------------------------------------------------------
    def _schedule(self, delay: float) -> None:
        self._schedule_at(asyncio.get_running_loop().time() + delay)

    def _schedule_at(self, at: float) -> None:
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            if self._timer_at <= at:
                return  # an earlier push is already armed: this change rides along
            self._timer.cancel()
        self._timer_at = at
        self._timer = loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self._endpoints_first is not None and not self._rules_pending:
            # Endpoints only: wait for a quiet period, within the maximum delay.
            at = min(self._endpoints_last + self.endpoint_debounce,
                     self._endpoints_first + self.endpoint_max_delay)
            if at > asyncio.get_running_loop().time() + 0.001:
                self._schedule_at(at)
                return
        self._endpoints_first, self._rules_pending = None, False
        if not self._inputs_ready():
            return  # proxies stay NOT SENT until the store (and the cluster) has been read once
        self._refresh()
        self.released = self.view  # what proxies get from now on (also after their next ACK)
        targets = list(self.sessions.values()) if self._push_all else list(self._due)
        self._push_all = False
        self._due.clear()
        sent = sum(1 for session in targets if self._pump(session))
        if sent:
            self.pushes += 1
            log.info("pushing version %s to %d proxies", self.view.version, sent)

    def _inputs_ready(self) -> bool:
        if self.workloads is not None:
            return self.loaded and self.workloads.ready
        return self.loaded and self.registry.ready

    def _refresh(self) -> None:
        """Recompute the state if rules or endpoints changed since it was built: only the
        resources whose content changed are encoded again."""
        if not (self._dirty and self._inputs_ready()):
            return
        services = (self.registry.services() if self.workloads is None
                    else self.workloads.services())
        self.compiled = compile_resources(
            self.rules.values(),
            {(s.get("namespace") or DEFAULT_NAMESPACE, s["name"]) for s in services})
        self._service_entries.replace(services)
        self._rule_entries.replace(r.to_manifest() for r in self.compiled.rules)
        self._refresh_scopes()
        # The whole state's version always carries the store revision (it grows with the store).
        view = make_view(self.revision, self._service_entries.entries, self._rule_entries.entries,
                         not self.warming)
        if self.view is None or view.version != self.view.version:
            self.view = view
            self._remember(view)
        self._dirty = False
        compiled = getattr(self.isolation.reporter, "compiled", None)
        if compiled is not None:  # Kubernetes: Ingress status and Events (ingressstatus)
            compiled(self.rules, self.compiled, services)

    def _remember(self, view: View) -> None:
        """Keep the newest versions, so that a reconnecting proxy gets a delta from its own."""
        self._recent[view.version] = view
        while len(self._recent) > RECENT_VIEWS:
            self._recent.pop(next(iter(self._recent)))

    def _refresh_scopes(self) -> None:
        """The inputs of every proxy's scope: the Sidecars, and per compiled rule where it is
        visible (its source's exportTo) and which services it names."""
        sidecars = []
        for res in self.rules.values():
            if res.kind == scoping.SIDECAR_KIND:
                sidecar, _ = scoping.parse_sidecar(res.namespace, res.name, res.spec)
                if sidecar is not None:  # refused when written; an old broken one is left out
                    sidecars.append(sidecar)
        if sidecars != self._sidecars:
            self._sidecars = sidecars
            self._sidecar_generation += 1
        rule_scope = {}
        peer_auths = []
        for rule in self.compiled.rules:
            source = self.rules.get(self.compiled.sources.get(rule.key, rule.key))
            export_to = (source.spec or {}).get("exportTo") if source is not None else None
            parsed = native.parse(rule.kind, rule.namespace, rule.name, rule.spec).value
            if isinstance(parsed, PeerAuth):
                peer_auths.append(parsed)
            rule_scope[rule_id(rule.to_manifest())] = (
                source.namespace if source is not None else rule.namespace, export_to,
                frozenset(scoping.rule_services(parsed)))
        self._rule_scope = rule_scope
        self._peer_auths = peer_auths  # proxy-status's MTLS column
        self._scoped.clear()
        self._scoped_generation += 1

    def scope_of(self, session: Session) -> scoping.Scope:
        ident = session.identity
        if session.scope is None or session.scope_generation != self._sidecar_generation:
            if len(self._scopes) > 4096:  # old Sidecars' scopes: start again
                self._scopes.clear()
                self._scoped.clear()
                self._scoped_generation += 1
            scope = scoping.scope_for(ident.namespace, ident.labels, self._sidecars)
            session.scope = self._scopes.setdefault(scope, scope)
            session.scope_generation = self._sidecar_generation
        return session.scope

    def view_for(self, session: Session, state: View | None = None) -> View | None:
        """What this proxy gets of `state` (default: the latest state): the services in its
        scope and those the rules visible to it name, and those rules. Computed once per
        scope and state; the whole state itself when the scope leaves nothing out."""
        state = state if state is not None else self.view
        if state is None:
            return None
        cached = session.view
        if (cached is not None and cached[0] is state and cached[1] == self._scoped_generation
                and session.scope_generation == self._sidecar_generation):
            return cached[2]
        scope = self.scope_of(session)
        key = (state.version, id(scope))
        view = self._scoped.get(key)
        if view is None:
            view = self._scoped[key] = self._scope_view(state, scope)
        session.view = (state, self._scoped_generation, view)
        return view

    def _scope_view(self, state: View, scope: scoping.Scope) -> View:
        ns = scope.namespace
        visible = {rid: e for rid, e in state.rules.items()
                   if rid not in self._rule_scope
                   or scoping.exported_to(self._rule_scope[rid][1], self._rule_scope[rid][0], ns)}
        named = set()
        for rid in visible:
            named |= self._rule_scope.get(rid, (None, None, frozenset()))[2]
        services = {}
        for sid, e in state.services.items():
            svc_ns, _, name = sid.partition("/")
            if (svc_ns, name) in named or scope.sees(svc_ns, name):
                services[sid] = e
        rules = visible  # each brings the services it names (above)
        if len(services) == len(state.services) and len(rules) == len(state.rules):
            return state  # nothing left out: the same version as everyone's
        revision = int(state.version.split(".", 1)[0])
        view = make_view(revision, services, rules, state.complete,
                         previous=self._last_scoped.get(scope))
        self._last_scoped[scope] = view
        self._remember(view)
        return view

    def _pump(self, session: Session) -> bool:
        """Start sending this proxy what it lacks, unless it is up to date, has an update
        unanswered (the next one follows its answer), or rejected exactly this version.
        True when a send started."""
        if session.closed or session.sending or session.inflight is not None:
            return False
        if self.released is None:
            return False
        target = self.view_for(session, self.released)
        if target.version == session.nacked:
            return False
        sync = session.sync
        if (session.held is not None and session.held.version == target.version
                and sync.sent_nonce is not None and sync.acked_nonce == sync.sent_nonce):
            return False
        session.sending = True
        eager(self._send(session, target))
        return True

    async def _send(self, session: Session, target: View) -> None:
        """Send one update: a delta from what the proxy holds (the whole state when it holds
        nothing known), or the whole snapshot to an old sidecar. The payload is shared; only
        the envelope with the nonce is this proxy's own."""
        try:
            if ACCEPT_DELTA in session.accept:
                payload = self.updates.delta(session.held, target)
            else:
                payload = self.updates.snapshot(target)
            nonce = f"{self._nonce_prefix}-{next(self._nonces)}"
            data, binary = payload.frame(nonce, ACCEPT_ZLIB in session.accept)
            share = self.window.try_acquire(len(data))
            if share is None:
                share = await self.window.acquire(len(data))
            if session.closed:
                self.window.release(share)
                return
            inflight = Inflight(nonce, target, share)
            self._stalls.add(inflight)
            session.inflight = inflight
            session.sync.sent(target.version, nonce)  # before the await: the ACK may be quick
            self.bytes_sent += len(data)
            if self._send_frame:
                await session.ws.send_frame(data, WSMsgType.BINARY if binary else WSMsgType.TEXT)
            elif binary:
                await session.ws.send_bytes(data)
            else:
                await session.ws.send_str(data.decode())
        except (ConnectionError, RuntimeError) as exc:
            log.info("proxy %s: send failed: %s", session.identity.proxy_id, exc)
        finally:
            session.sending = False
        if session.inflight is None:  # answered already, or nothing was sent
            self._pump(session)

    def _release(self, inflight: Inflight) -> None:
        """The update no longer counts against the window (answered, stalled or abandoned)."""
        if inflight.share:
            self.window.release(inflight.share)
            inflight.share = 0

    def _on_reply(self, session: Session, msg: dict) -> None:
        reply = parse_reply(msg)
        session.sync.answered(reply)
        if not reply.ok:
            log.warning("proxy %s rejected version %s: %s", session.identity.proxy_id,
                        reply.version, reply.error)
        inflight = session.inflight
        if inflight is None or inflight.nonce != reply.nonce:
            return  # an answer to an older send (or a stream's replacement)
        self._release(inflight)
        session.inflight = None
        if reply.ok:
            session.held, session.nacked = inflight.view, None
        else:  # the proxy stays on its last good state (session.held)
            session.nacked = inflight.view.version
        self._pump(session)

    def _on_resync(self, session: Session, msg: dict) -> None:
        """The proxy asks for the whole state (a delta did not fit what it holds)."""
        log.info("proxy %s asks for the full state", session.identity.proxy_id)
        if session.inflight is not None:  # it will not answer that one
            self._release(session.inflight)
            session.inflight = None
        session.held = session.nacked = None
        self._pump(session)

    # -- the stream ----------------------------------------------------------------------------
    async def _stream(self, request: web.Request) -> web.StreamResponse:
        ws = Stream(heartbeat=self.heartbeat, compress=False)
        await ws.prepare(request)
        try:
            first = await ws.receive(timeout=HELLO_TIMEOUT)
        except asyncio.TimeoutError:
            await ws.close(code=CLOSE_PROTOCOL_ERROR, message=b"no hello")
            return ws
        if first.type != WSMsgType.TEXT:
            await ws.close(code=CLOSE_PROTOCOL_ERROR, message=b"expected a hello")
            return ws
        try:
            hello = json.loads(first.data)
            identity = parse_hello(hello)
            accept, held = parse_accept(hello), parse_held(hello)
        except ValueError as exc:
            log.warning("refused a stream from %s: %s", request.remote, exc)
            await ws.close(code=CLOSE_PROTOCOL_ERROR, message=str(exc)[:120].encode())
            return ws
        session = Session(ws, ProxySync(identity), accept=accept,
                          credential=(hello.get("token") if identity.kind == "gateway"
                                      and isinstance(hello.get("token"), str) else None))
        if held is not None and ACCEPT_DELTA in accept:
            session.held = self._recent.get(held)  # unknown: the full state
        self._attach(session)
        ws.offer_text(lambda text: self._reply_now(session, text))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    message = json.loads(msg.data)
                    kind = message.get("type") if isinstance(message, dict) else None
                    handler = self.handlers.get(kind)
                    if handler is None:
                        raise ValueError(f"unexpected message type {kind!r}")
                    result = handler(session, message)
                    if result is not None:
                        await result
                except ValueError as exc:
                    log.warning("proxy %s: %s", identity.proxy_id, exc)
                    await ws.close(code=CLOSE_PROTOCOL_ERROR, message=str(exc)[:120].encode())
                    break
        finally:
            self._detach(session)
        return ws

    def _reply_now(self, session: Session, text: str) -> bool:
        """An ACK or NACK handled as it is parsed (meshtool.controlplane.inbox): True when it
        was; anything else, or anything malformed, is left to the stream's task, which
        handles it (and reports a protocol error) as any message."""
        try:
            message = json.loads(text)
        except ValueError:
            return False
        if not isinstance(message, dict) or message.get("type") not in (ACK, NACK):
            return False
        if self.handlers.get(message["type"]) != self._on_reply:
            return False  # replaced by a handler that may await
        try:
            self._on_reply(session, message)
        except ValueError:
            return False  # refused before it changed anything: the task closes the stream
        except Exception:  # noqa: BLE001 - inside aiohttp's parser: log, never break it
            log.exception("proxy %s: handling a reply failed", session.identity.proxy_id)
        return True

    def _attach(self, session: Session) -> None:
        pid = session.identity.proxy_id
        old = self.sessions.get(pid)
        self.sessions[pid] = session
        if old is not None:  # the same proxy again: its old stream is dead or doomed
            old.closed = True
            asyncio.ensure_future(old.ws.close(code=1000, message=b"replaced by a newer stream"))
        session.token = self.registry.register(session.identity)
        self.churn.connect(pid, session.identity.namespace, session.identity.service)
        if self.gateway_certs is not None:
            self.gateway_certs.attach(session)
        self._due.add(session)
        if self._timer is None:
            self._schedule(self.debounce)

    async def _on_csr(self, session: Session, message: dict) -> None:
        answer = await self._issue(session, parse_csr(message))
        await session.ws.send_str(json.dumps(answer))

    async def _issue(self, session: Session, request) -> dict:
        """The answer to a CSR: a certificate for the identity the proxy registered with. In
        local mode the registration is the authentication (the stream is on loopback); in
        Kubernetes mode the CSR carries the pod's service account token, which the API server
        reviews, and the certificate names that service account."""
        ident = session.identity
        if self.ca is None:
            return certificate_message(request.id, error="this control plane has no CA "
                                                         "(start it with --ca-dir DIR)")
        from meshtool.controlplane.registry import workload_spiffe_id
        from meshtool.security.spiffe import workload_id

        if self.workloads is not None:
            if self.token_reviewer is None or not request.token:
                return certificate_message(request.id, error="in Kubernetes mode a CSR must "
                                           "carry the pod's service account token")
            try:
                namespace, account = await asyncio.to_thread(
                    self.token_reviewer.review, request.token, ident.labels.get(CLUSTER_LABEL))
            except ValueError as exc:
                log.warning("proxy %s: CSR refused: %s", ident.proxy_id, exc)
                return certificate_message(request.id, error=str(exc))
            claimed = (ident.namespace, ident.service_account or account)
            if claimed != (namespace, account):
                why = (f"the token is for service account {namespace}/{account}, the proxy "
                       f"registered as {claimed[0]}/{claimed[1]}")
                log.warning("proxy %s: CSR refused: %s", ident.proxy_id, why)
                return certificate_message(request.id, error=why)
            spiffe = str(workload_id(namespace, account, self.ca.trust_domain))
        else:
            spiffe = workload_spiffe_id(ident, self.ca.trust_domain)
        self.ca = self.ca.reloaded()  # the CA's files changed: a root rotation step
        try:
            issued = self.ca.sign(request.csr, spiffe, self.cert_ttl)
        except ValueError as exc:
            log.warning("proxy %s: CSR refused: %s", ident.proxy_id, exc)
            return certificate_message(request.id, error=str(exc))
        session.sync.certificate = {"spiffeId": spiffe, "serial": format(issued.serial, "x"),
                                    "notAfter": issued.not_after}
        log.info("issued a certificate to proxy %s: %s, serial %x, valid %.0fs",
                 ident.proxy_id, spiffe, issued.serial, issued.not_after - time.time())
        return certificate_message(request.id, issued.chain, issued.roots)

    def _detach(self, session: Session) -> None:
        session.closed = True
        if session.inflight is not None:
            self._release(session.inflight)
            session.inflight = None
        pid = session.identity.proxy_id
        self._due.discard(session)
        if self.sessions.get(pid) is session:
            del self.sessions[pid]
            self.churn.disconnect(pid)
        self.registry.unregister(pid, session.token)

    # -- debug endpoints ---------------------------------------------------------------------
    def sync_table(self) -> dict:
        self._refresh()  # a change waiting for its push already makes proxies STALE
        latest = self.view.version if self.view else None
        proxies = [s.sync.to_dict(self._intended(s), self.instance)
                   for _, s in sorted(self.sessions.items())]
        for p in proxies:
            p["mtls"] = mtls_state(self._peer_auths, p, self.ca is not None)
        return {"controlPlane": self.instance, "meshtoolVersion": __version__,
                "address": self.address, "started": self.started, "storeRevision": self.revision, "storeLoaded": self.loaded, "version": latest,
                "workloads": "sidecars" if self.workloads is None else "kubernetes",
                "workloadsLoaded": (self.registry.ready if self.workloads is None
                                    else self.workloads.ready),
                "warming": self.registry.warming, "replicas": self.registry.replicas,
                "pushes": self.pushes, "invalid": self.isolation.listing(), "proxies": proxies}

    def sync_summary(self) -> dict:
        """Counts by status and the last ACK of the latest version: cheap to poll."""
        self._refresh()
        latest = self.view.version if self.view else None
        counts: dict[str, int] = {}
        last_ack = None
        # Polled while pushes run (ten times a second by the benches, at 10,000 proxies): the
        # loop reads each session's cached view itself rather than through view_for.
        state, generation = self.view, self._scoped_generation
        sidecars = self._sidecar_generation
        for s in self.sessions.values():
            cached = s.view
            if (cached is not None and cached[0] is state and cached[1] == generation
                    and s.scope_generation == sidecars):
                intended = cached[2].version
            else:
                intended = self._intended(s)
            sync = s.sync
            status = sync.status(intended)
            counts[status] = counts.get(status, 0) + 1
            if sync.acked_version == intended and sync.acked_at is not None:
                if last_ack is None or sync.acked_at > last_ack:
                    last_ack = sync.acked_at
        return {"controlPlane": self.instance, "meshtoolVersion": __version__,
                "storeRevision": self.revision, "storeLoaded": self.loaded, "version": latest,
                "proxies": len(self.sessions), "statuses": counts, "lastAck": last_ack,
                "changedAt": self.changed_at, "bytesSent": self.bytes_sent, "inflightBytes": self.window.used,
                "inflightPeak": self.window.peak,
                "invalid": len(self.isolation.invalid)}

    def _intended(self, session: Session) -> str | None:
        view = self.view_for(session)
        return view.version if view else None

    async def _syncz(self, request: web.Request) -> web.Response:
        table = self.sync_summary() if request.query.get("summary") else self.sync_table()
        return web.Response(text=json.dumps(table, separators=(",", ":")),
                            content_type="application/json")

    async def _metrics(self, request: web.Request) -> web.Response:
        lines = [
            "# HELP meshtool_controlplane_invalid_resources Stored objects left out of the "
            "snapshots because they are invalid.",
            "# TYPE meshtool_controlplane_invalid_resources gauge",
            f"meshtool_controlplane_invalid_resources {len(self.isolation.invalid)}",
            "# HELP meshtool_controlplane_rejected_resources_total Times a stored object (or a "
            "new version of it) was found invalid.",
            "# TYPE meshtool_controlplane_rejected_resources_total counter",
            f"meshtool_controlplane_rejected_resources_total {self.isolation.rejections}",
            "# HELP meshtool_controlplane_pushes_total Snapshots computed and pushed.",
            "# TYPE meshtool_controlplane_pushes_total counter",
            f"meshtool_controlplane_pushes_total {self.pushes}",
            "# HELP meshtool_controlplane_sent_bytes_total Bytes of updates written to the "
            "streams.",
            "# TYPE meshtool_controlplane_sent_bytes_total counter",
            f"meshtool_controlplane_sent_bytes_total {self.bytes_sent}",
            "# HELP meshtool_controlplane_inflight_bytes Bytes sent and not yet answered "
            "(bounded by the send window).",
            "# TYPE meshtool_controlplane_inflight_bytes gauge",
            f"meshtool_controlplane_inflight_bytes {self.window.used}",
            "# HELP meshtool_controlplane_updates_encoded_total Updates encoded (each shared "
            "by every proxy that gets it).",
            "# TYPE meshtool_controlplane_updates_encoded_total counter",
            f"meshtool_controlplane_updates_encoded_total {self.updates.encoded}",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain",
                            charset="utf-8")

    async def _config_dump(self, request: web.Request) -> web.Response:
        pid = request.query.get("proxy")
        if pid is not None and pid not in self.sessions:
            return web.json_response({"error": f"proxy {pid!r} is not connected to this control "
                                               f"plane"}, status=404)
        self._refresh()
        view = self.view if pid is None else self.view_for(self.sessions[pid])
        if view is None:
            return web.json_response({"error": "no snapshot yet: the store has not been read"},
                                     status=503)
        left_out = json.dumps(self.compiled.report(), separators=(",", ":"))
        scope = (None if pid is None
                 else self.scope_of(self.sessions[pid]).describe())  # what simulate explains
        tls = (self.gateway_certs.bundle if self.gateway_certs is not None and pid is not None
               and self.sessions[pid].identity.kind == "gateway" else None)
        body = (f'{{"proxy":{json.dumps(pid)},"version":{json.dumps(view.version)},'
                f'"scope":{json.dumps(scope)},'
                f'{_tls_field(tls)}'
                f'"invalid":{json.dumps(self.isolation.listing())},'
                f'"leftOut":{left_out},"snapshot":').encode()
        return web.Response(body=body + full_snapshot(view) + b"}",
                            content_type="application/json")


    def _scrape_targets(self) -> list[tuple[str, str, float]]:
        if self.workloads is not None:  # Kubernetes: admin ports are loopback-only in the pods
            return []
        return [(pid, s.identity.admin_address, s.sync.connected_since)
                for pid, s in self.sessions.items() if s.identity.admin_address]

    async def _graph(self, request: web.Request) -> web.Response:
        return web.json_response(await self.scraper.graph_now())

    async def _rules(self, request: web.Request) -> web.Response:
        rules = [{"kind": r.kind, "namespace": r.namespace, "name": r.name,
                  "revision": r.revision, "manifest": r.to_manifest()}
                 for _, r in sorted(self.rules.items())]
        return web.json_response({"storeRevision": self.revision, "rules": rules})


def _tls_field(bundle) -> str:
    """A gateway's certificates in its config dump: names, hosts, expiry; never a key."""
    return "" if bundle is None else f'"tls":{json.dumps(bundle.describe())},'


async def serve(open_store: Callable[[], Store] | None, host: str, port: int,
                stop: asyncio.Event, dashboard: tuple[str, int] | None = None,
                **options) -> None:
    """Run a control plane until `stop` is set (the command's main loop); with `dashboard`
    (host, port), the web dashboard too, reading this control plane."""
    import gc

    from meshtool.controlplane.fdlimit import proxies_served, raise_fd_limit

    # Thousands of streams keep ~450k objects alive (5,000 proxies); with the default thresholds
    # the collector scanned them often enough to take ~20% of a push round's CPU (measured with
    # gc.callbacks: 0.6 s of 2.7 s over 6 rounds). Fewer, later collections; what exists at
    # start (modules, the app) is never garbage and is left out of every scan.
    gc.set_threshold(20_000, 50, 100)
    gc.freeze()
    limit = raise_fd_limit()
    if limit:
        log.info("open-files limit %d: this replica serves up to %d proxies", limit,
                 proxies_served(limit))
    cp = ControlPlane(open_store, **options)
    address = await cp.start(host, port)
    board = None
    try:
        if dashboard is not None:
            from meshtool import __version__
            from meshtool.controlplane.dashboard.server import Dashboard

            bound = address.rsplit(":", 1)[1]
            local = address if host not in ("0.0.0.0", "::", "") else f"127.0.0.1:{bound}"
            board = Dashboard(local, __version__)
            log.info("dashboard at %s", await board.start(*dashboard))
        await stop.wait()
    finally:
        if board is not None:
            await board.stop()
        await cp.stop()
