"""DiscoveryClient: the sidecar's end of the push stream.

Runs as one asyncio task beside the proxy. It keeps one WebSocket to the control plane,
applies every snapshot it receives by calling ``apply(snapshot_dict)`` and answers it: ACK
when apply returns, NACK with the text of the ValueError it raises. When the stream breaks it
keeps the last good snapshot (the proxy goes on serving with it) and reconnects with capped
exponential backoff and jitter, so that a thousand sidecars do not reconnect in lockstep.

Given several control-plane addresses (replicas: "host:port,host:port"), it moves to the next
one whenever a stream breaks or a connection fails, and backs off only after trying them all.
A snapshot marked `complete: false` (a control plane still warming after a restart) never
takes a service's endpoints away: the endpoints the proxy had for services the snapshot
leaves empty or out are kept until a complete snapshot arrives.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import time
from typing import Any, Awaitable, Callable

import aiohttp

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.discovery.protocol import (ACCEPT_DELTA, ACCEPT_ZLIB, CERTIFICATE,
                                         CLOSE_PROTOCOL_ERROR, DELTA, SNAPSHOT,
                                         CertificateMessage, Identity, Reply, ack, csr_message,
                                         nack, parse_certificate, parse_delta, parse_snapshot,
                                         resync, stream_url)
from meshtool.discovery.snapshot import Held
from meshtool.discovery.wire import decode_message

log = logging.getLogger("meshtool.discovery")

ApplyFn = Callable[[dict], Any | Awaitable[Any]]

MAX_MESSAGE = 64 * 1024 * 1024  # a snapshot of a large mesh is big; aiohttp's default is 4 MiB


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Delay before reconnect number `attempt` (0-based): exponential, capped, with "equal
    jitter" (half fixed, half random) so waits grow yet reconnects spread out."""
    ceiling = min(cap, initial * (2 ** min(attempt, 30)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def parse_addresses(address: str | list[str]) -> list[str]:
    """"a:1,b:2" (or a list) -> ["a:1", "b:2"]; ValueError when empty."""
    parts = address.split(",") if isinstance(address, str) else list(address)
    out = [p.strip() for p in parts if p.strip()]
    if not out:
        raise ValueError("no control-plane address given")
    return out


def keep_endpoints(old: dict, new: dict) -> dict:
    """`new` with the endpoints of `old` where `new` has none for a service (or lacks it)."""
    def key(svc: dict) -> tuple:
        return svc.get("namespace") or DEFAULT_NAMESPACE, svc.get("name")

    had = {key(s): s for s in old.get("services") or [] if isinstance(s, dict) and s.get("endpoints")}
    if not had:
        return new
    services, seen = [], set()
    for svc in new.get("services") or []:
        if isinstance(svc, dict):
            seen.add(key(svc))
            if not svc.get("endpoints") and key(svc) in had:
                svc = {**svc, "endpoints": had[key(svc)]["endpoints"]}
        services.append(svc)
    services += [s for k, s in had.items() if k not in seen]
    return {**new, "services": services}


class DiscoveryClient:
    """Follow the control plane at `address` ("host:port", or several separated by commas:
    replicas) as `identity`.

    `apply` takes the snapshot dict and raises ValueError to reject it (sync or async).
    Start with `start()` (an asyncio task) or `await run()`; stop with `await stop()`.
    """

    def __init__(self, address: str, identity: Identity, apply: ApplyFn, *,
                 backoff_initial: float = 0.1, backoff_cap: float = 1.0,
                 heartbeat: float | None = 10.0, seed: int | None = None,
                 session: aiohttp.ClientSession | None = None,
                 decode: Callable[[str | bytes], Any] = decode_message,
                 accept: tuple[str, ...] = (ACCEPT_DELTA, ACCEPT_ZLIB)):
        self.addresses = parse_addresses(address)
        self._index = 0
        self.address = self.addresses[0]  # the one in use (or tried last)
        self.url = stream_url(self.address)
        self.identity = identity
        self._apply = apply
        self.backoff_initial = backoff_initial
        self.backoff_cap = backoff_cap
        self.heartbeat = heartbeat
        self._rng = random.Random(seed)
        self._session = session
        self._decode = decode  # simulated fleets share the decoding of identical snapshots
        self.accept = tuple(accept)  # () : an old sidecar, full snapshots only
        # The control plane's state as last ACKed, resource by resource (deltas apply to it).
        self.held = Held()
        self.deltas = 0  # deltas applied, for tests
        self.resyncs = 0  # full states asked for
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        # What the proxy is serving: the last snapshot it ACKed (kept across disconnects).
        self.snapshot: dict | None = None
        self.version: str | None = None
        self._kept = False  # self.snapshot holds endpoints an incomplete snapshot lacked
        self.connected = False
        self.connects = 0  # successful stream opens, for tests and logs
        self.last_reply: Reply | None = None
        self.last_error: str | None = None  # why the stream last broke
        self.changed = asyncio.Event()  # set whenever a reply is sent or the connection changes
        # Certificates (optional): `csr_source()` gives the CSR to send after each hello (None:
        # none wanted), `on_certificate(msg)` takes each answer (docs/protocol.md).
        self.csr_source: Callable[[], tuple[str, str, str | None] | None] | None = None
        self.on_certificate: Callable[[CertificateMessage], Any] | None = None
        # Other messages by type (a gateway's "tls"): each handler takes the decoded message;
        # what it raises is logged and the stream goes on.
        self.handlers: dict[str, Callable[[dict], Any]] = {}
        # Fields added to each hello, read at each connect (a gateway's service account token).
        self.hello_fields: Callable[[], dict[str, Any]] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> asyncio.Task:
        self._task = asyncio.ensure_future(self.run())
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping anyway
                pass

    async def run(self) -> None:
        own = self._session is None
        session = self._session or aiohttp.ClientSession()
        failures = 0
        try:
            while not self._stopping:
                got_snapshot = await self._stream_once(session)
                if self._stopping:
                    break
                failures = 0 if got_snapshot else failures + 1
                broken = self.address
                self._index = (self._index + 1) % len(self.addresses)
                self.address = self.addresses[self._index]
                self.url = stream_url(self.address)
                if failures % len(self.addresses):  # another replica not tried yet this round
                    log.info("control plane %s: %s; trying %s", broken,
                             self.last_error or "stream closed", self.address)
                    continue
                attempt = failures // len(self.addresses)
                delay = backoff_delay(attempt, self.backoff_initial, self.backoff_cap, self._rng)
                log.info("control plane %s: %s; reconnecting to %s in %.2fs", broken,
                         self.last_error or "stream closed", self.address, delay)
                await asyncio.sleep(delay)
        finally:
            if own:
                await session.close()

    # -- one connection ----------------------------------------------------------------------
    async def _stream_once(self, session: aiohttp.ClientSession) -> bool:
        """Open the stream, serve it until it breaks. True when at least one snapshot arrived
        (then the next reconnect starts from the shortest backoff again)."""
        got_snapshot = False
        try:
            async with session.ws_connect(self.url, heartbeat=self.heartbeat, autoclose=True,
                                          max_msg_size=MAX_MESSAGE) as ws:
                self._ws = ws
                await ws.send_str(json.dumps(self._hello()))
                self.connected = True
                self.connects += 1
                self.last_error = None
                self._notify()
                log.info("connected to control plane %s as %s", self.address,
                         self.identity.proxy_id)
                wanted = self.csr_source() if self.csr_source is not None else None
                if wanted is not None:
                    await ws.send_str(json.dumps(csr_message(*wanted)))
                async for msg in ws:
                    if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        try:
                            message = self._decode(msg.data)
                            reply = await self._handle(ws, message)
                        except ValueError as exc:  # JSONDecodeError is a ValueError too
                            self.last_error = f"malformed message: {exc}"
                            await ws.close(code=CLOSE_PROTOCOL_ERROR,
                                           message=str(exc)[:120].encode())
                            break
                        if reply is None:
                            continue
                        got_snapshot = True
                        await ws.send_str(json.dumps(reply.to_dict()))
                        self.last_reply = reply
                        self._notify()
                    elif msg.type == aiohttp.WSMsgType.ERROR:
                        self.last_error = f"stream error: {ws.exception()}"
                        break
                if self.last_error is None:
                    self.last_error = f"stream closed by the control plane (code {ws.close_code})"
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            self._ws = None
            if self.connected:
                self.connected = False
                self._notify()
        return got_snapshot

    async def send_csr(self, request_id: str, csr_pem: str, token: str | None = None) -> bool:
        """Send a CSR now; False when not connected (csr_source sends one at the next hello)."""
        ws = self._ws
        if ws is None or ws.closed:
            return False
        try:
            await ws.send_str(json.dumps(csr_message(request_id, csr_pem, token)))
        except (ConnectionError, RuntimeError):
            return False
        return True

    def _certificate(self, msg: CertificateMessage) -> None:
        if self.on_certificate is None:
            return
        try:
            self.on_certificate(msg)
        except Exception:  # noqa: BLE001 - a bad certificate must not break the stream
            log.exception("handling the certificate %s failed", msg.id)

    def _hello(self) -> dict[str, Any]:
        hello = self.identity.hello()
        if self.hello_fields is not None:
            hello.update(self.hello_fields())
        if self.accept:
            hello["accept"] = list(self.accept)
            if self.held.version is not None:  # a delta from it may be enough
                hello["version"] = self.held.version
        return hello

    async def _handle(self, ws: aiohttp.ClientWebSocketResponse, message: Any) -> Reply | None:
        """One message from the control plane; the reply to send, if any. ValueError: the
        message is malformed (the stream closes)."""
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == SNAPSHOT:
            snap = parse_snapshot(message)
            reply = await self._answer(snap.version, snap.nonce, snap.snapshot)
            if reply.ok:
                self.held = Held.of_document(snap.version, snap.snapshot)
            return reply
        if kind == DELTA:
            delta = parse_delta(message)
            if delta.base is not None and delta.base != self.held.version:
                # Not the state this proxy holds (it NACKed or lost it): ask for the whole.
                log.info("delta %s applies to %s, this proxy holds %s: asking for the full "
                         "state", delta.version, delta.base, self.held.version)
                self.resyncs += 1
                await ws.send_str(json.dumps(resync()))
                return None
            try:
                held = self.held.updated(delta.version, delta.update, full=delta.base is None)
            except ValueError as exc:
                return nack(delta.version, delta.nonce, str(exc))
            reply = await self._answer(delta.version, delta.nonce, held.document())
            if reply.ok:
                self.held = held
                self.deltas += 1
            return reply
        if kind == CERTIFICATE:
            self._certificate(parse_certificate(message))
            return None
        if not isinstance(kind, str):
            raise ValueError("a message must be a JSON object with a type")
        handler = self.handlers.get(kind)
        if handler is not None:
            try:
                handler(message)
            except Exception:  # noqa: BLE001 - a bad extension message must not break the stream
                log.exception("handling a %r message failed", kind)
            return None
        log.debug("ignoring a message of type %r", kind)  # a newer control plane's extension
        return None

    async def _answer(self, version: str, nonce: str, snapshot: dict) -> Reply:
        if version == self.version and self.snapshot is not None and not self._kept:
            return ack(version, nonce)  # same content (versions name content): nothing to redo
        complete = snapshot.get("complete", True) is not False
        if not complete and self.snapshot is not None:
            snapshot = keep_endpoints(self.snapshot, snapshot)
        try:
            result = self._apply(snapshot)
            if inspect.isawaitable(result):
                await result
        except ValueError as exc:
            log.warning("rejected snapshot %s: %s", version, exc)
            return nack(version, nonce, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug in apply must not kill the stream
            log.exception("applying snapshot %s failed", version)
            return nack(version, nonce, f"internal error: {type(exc).__name__}: {exc}")
        self.snapshot, self.version, self._kept = snapshot, version, not complete
        return ack(version, nonce)

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[["DiscoveryClient"], bool],
                       timeout: float) -> bool:
        """Wait until predicate(self) holds (checked after every change); False on timeout."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                return predicate(self)
        return True
