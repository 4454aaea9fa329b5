"""The discovery server: push streams, the sync table, and the push scheduler.

One ControlPlane per process. It follows the store (rules) and the registry (endpoints), keeps
one snapshot (computed and encoded once per change), and pushes it to every connected proxy.
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
from typing import Callable, Protocol

from aiohttp import WSMsgType, web

from meshtool import __version__
from meshtool.controlplane.follower import StoreFollower
from meshtool.controlplane.isolation import Isolation, Reporter
from meshtool.controlplane.registrations import SharedRegistrations, View
from meshtool.controlplane.registry import WorkloadRegistry
from meshtool.controlplane.snapshot import Built, build_snapshot
from meshtool.controlplane.synctable import ProxySync
from meshtool.discovery.protocol import (CLOSE_PROTOCOL_ERROR, CONFIG_DUMP_PATH, CSR, GRAPH_PATH,
                                         RULES_PATH, STREAM_PATH, certificate_message, parse_csr,
                                         SYNCZ_PATH, Identity, encode_snapshot,
                                         encode_snapshot_bytes, parse_hello, parse_reply)
from meshtool.model.resource import Resource
from meshtool.store.base import Key, Store

log = logging.getLogger("meshtool.controlplane")

METRICS_PATH = "/metrics"

HELLO_TIMEOUT = 10.0


class WorkloadSource(Protocol):
    """Where endpoints come from instead of the sidecars' registrations (Kubernetes mode:
    meshtool.controlplane.kubewatch.KubernetesWorkloads)."""

    ready: bool  # listed once: until then no snapshot is sent

    def start(self, loop: asyncio.AbstractEventLoop, on_change: Callable[[], None]) -> None: ...

    def stop(self) -> None: ...

    def services(self) -> list[dict]: ...


@dataclass(eq=False)
class Session:
    """One connected proxy: its stream, its sync record, its send state."""

    ws: web.WebSocketResponse
    sync: ProxySync
    token: int = 0
    want: bool = False  # a push is due
    sending: bool = False  # a sender task is running for this session
    closed: bool = False

    @property
    def identity(self) -> Identity:
        return self.sync.identity


class ControlPlane:
    def __init__(self, open_store: Callable[[], Store] | None, *, instance: str | None = None,
                 debounce: float = 0.005, endpoint_debounce: float = 0.05,
                 endpoint_max_delay: float = 1.0, grace: float = 2.0, heartbeat: float = 30.0,
                 workloads: WorkloadSource | None = None, registrations: str | None = None,
                 warmup: float = 10.0, reporter: Reporter | None = None,
                 ca=None, cert_ttl: float = 24 * 3600.0, token_reviewer=None):
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
        self.registrations = registrations  # the shared registrations file (local mode)
        self.warmup = warmup
        self._shared: SharedRegistrations | None = None
        self.sessions: dict[str, Session] = {}
        self.rules: dict[Key, Resource] = {}  # the valid ones: what snapshots are made of
        self.isolation = Isolation(reporter=reporter)
        self.revision = 0
        self.loaded = open_store is None  # without a store there are no rules to wait for
        self.current: Built | None = None
        self._dirty = True  # the snapshot must be recomputed
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
        from meshtool.controlplane.scrape import Scraper
        self.scraper = Scraper(self._scrape_targets)

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
        if self._runner is not None:
            await self._runner.cleanup()
        if self._shared is not None:  # after the streams closed: their sidecars are marked lost
            await asyncio.get_running_loop().run_in_executor(None, self._shared.stop)
        if self._follower is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._follower.stop)
        if self.workloads is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.workloads.stop)
        if self._timer is not None:
            self._timer.cancel()

    # -- inputs --------------------------------------------------------------------------------
    def _store_changed(self, revision: int, rules: dict[Key, Resource]) -> None:
        first = not self.loaded
        valid = self.isolation.split(rules.values())
        self.rules, self.revision, self.loaded = valid, revision, True
        left_out = f" ({len(rules) - len(valid)} invalid, left out)" if len(valid) < len(rules) else ""
        if first:
            log.info("store loaded at revision %d: %d rules%s", revision, len(valid), left_out)
        else:
            log.info("store at revision %d: %d rules%s", revision, len(valid), left_out)
        self._dirty = self._push_all = self._rules_pending = True
        self._schedule(self.debounce)

    def _endpoints_changed(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._endpoints_first is None:
            self._endpoints_first = now
        self._endpoints_last = now
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
        targets = list(self.sessions.values()) if self._push_all else list(self._due)
        self._push_all = False
        self._due.clear()
        sent = 0
        for session in targets:
            if session.closed or session.sync.sent_version == self.current.version:
                continue
            self._offer(session)
            sent += 1
        if sent:
            self.pushes += 1
            log.info("pushing version %s to %d proxies", self.current.version, sent)

    def _inputs_ready(self) -> bool:
        if self.workloads is not None:
            return self.loaded and self.workloads.ready
        return self.loaded and self.registry.ready

    def _refresh(self) -> None:
        """Recompute the snapshot if rules or endpoints changed since it was built."""
        if self._dirty and self._inputs_ready():
            services = (self.registry.services() if self.workloads is None
                        else self.workloads.services())
            self.current = build_snapshot(self.revision, self.rules.values(), services,
                                          complete=not self.warming)
            self._dirty = False

    def _offer(self, session: Session) -> None:
        session.want = True
        if not session.sending:
            session.sending = True
            asyncio.ensure_future(self._send(session))

    async def _send(self, session: Session) -> None:
        """Send the current snapshot to one proxy; if newer ones become due while a slow proxy
        blocks the send, only the latest follows (never a queue of outdated snapshots)."""
        try:
            while session.want and not session.closed:
                session.want = False
                built = self.current
                if built is None or session.sync.sent_version == built.version:
                    continue
                nonce = f"{self._nonce_prefix}-{next(self._nonces)}"
                session.sync.sent(built.version, nonce)  # before the await: the ACK may be quick
                if self._send_frame:  # the snapshot's bytes are shared by every send
                    await session.ws.send_frame(
                        encode_snapshot_bytes(built.version, nonce, built.utf8), WSMsgType.TEXT)
                else:
                    await session.ws.send_str(encode_snapshot(built.version, nonce, built.json))
        except (ConnectionError, RuntimeError) as exc:
            log.info("proxy %s: send failed: %s", session.identity.proxy_id, exc)
        finally:
            session.sending = False

    # -- the stream ----------------------------------------------------------------------------
    async def _stream(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=self.heartbeat, compress=False)
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
            identity = parse_hello(json.loads(first.data))
        except ValueError as exc:
            log.warning("refused a stream from %s: %s", request.remote, exc)
            await ws.close(code=CLOSE_PROTOCOL_ERROR, message=str(exc)[:120].encode())
            return ws
        session = Session(ws, ProxySync(identity))
        self._attach(session)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                    if isinstance(data, dict) and data.get("type") == CSR:
                        answer = await self._issue(session, parse_csr(data))
                        await ws.send_str(json.dumps(answer))
                        continue
                    reply = parse_reply(data)
                except ValueError as exc:
                    log.warning("proxy %s: %s", identity.proxy_id, exc)
                    await ws.close(code=CLOSE_PROTOCOL_ERROR, message=str(exc)[:120].encode())
                    break
                session.sync.answered(reply)
                if not reply.ok:
                    log.warning("proxy %s rejected version %s: %s", identity.proxy_id,
                                reply.version, reply.error)
        finally:
            self._detach(session)
        return ws

    def _attach(self, session: Session) -> None:
        pid = session.identity.proxy_id
        old = self.sessions.get(pid)
        self.sessions[pid] = session
        if old is not None:  # the same proxy again: its old stream is dead or doomed
            old.closed = True
            asyncio.ensure_future(old.ws.close(code=1000, message=b"replaced by a newer stream"))
        session.token = self.registry.register(session.identity)
        log.info("proxy %s connected (%s/%s)", pid, session.identity.namespace,
                 session.identity.service)
        self._due.add(session)
        if self._timer is None:
            self._schedule(self.debounce)

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
                namespace, account = await asyncio.to_thread(self.token_reviewer.review,
                                                             request.token)
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
        pid = session.identity.proxy_id
        self._due.discard(session)
        if self.sessions.get(pid) is session:
            del self.sessions[pid]
            log.info("proxy %s disconnected", pid)
        self.registry.unregister(pid, session.token)

    # -- debug endpoints ---------------------------------------------------------------------
    def sync_table(self) -> dict:
        self._refresh()  # a change waiting for its push already makes proxies STALE
        latest = self.current.version if self.current else None
        proxies = [s.sync.to_dict(latest, self.instance)
                   for _, s in sorted(self.sessions.items())]
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
        latest = self.current.version if self.current else None
        counts: dict[str, int] = {}
        last_ack = None
        for s in self.sessions.values():
            status = s.sync.status(latest)
            counts[status] = counts.get(status, 0) + 1
            if s.sync.acked_version == latest and s.sync.acked_at is not None:
                last_ack = max(last_ack or 0.0, s.sync.acked_at)
        return {"controlPlane": self.instance, "meshtoolVersion": __version__,
                "storeRevision": self.revision, "storeLoaded": self.loaded, "version": latest,
                "proxies": len(self.sessions), "statuses": counts, "lastAck": last_ack,
                "invalid": len(self.isolation.invalid)}

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
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain",
                            charset="utf-8")

    async def _config_dump(self, request: web.Request) -> web.Response:
        pid = request.query.get("proxy")
        if pid is not None and pid not in self.sessions:
            return web.json_response({"error": f"proxy {pid!r} is not connected to this control "
                                               f"plane"}, status=404)
        self._refresh()
        if self.current is None:
            return web.json_response({"error": "no snapshot yet: the store has not been read"},
                                     status=503)
        left_out = json.dumps(self.current.compiled.report(), separators=(",", ":"))
        body = (f'{{"proxy":{json.dumps(pid)},"version":{json.dumps(self.current.version)},'
                f'"invalid":{json.dumps(self.isolation.listing())},'
                f'"leftOut":{left_out},"snapshot":{self.current.json}}}')
        return web.Response(text=body, content_type="application/json")


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


async def serve(open_store: Callable[[], Store] | None, host: str, port: int,
                stop: asyncio.Event, dashboard: tuple[str, int] | None = None,
                **options) -> None:
    """Run a control plane until `stop` is set (the command's main loop); with `dashboard`
    (host, port), the web dashboard too, reading this control plane."""
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
