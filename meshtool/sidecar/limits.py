"""Timeouts and limits on client connections: what keeps slow or idle clients from holding the
sidecar, and what refuses fast instead of letting a caller wait.

- header timeout: a client that has not completed its request head within `header_timeout`
  seconds (of connecting, or of its previous response) is disconnected: slowloris clients
  sending a byte a second, and connections that never say anything, go;
- idle timeout: a keep-alive connection with no request for `idle_timeout` seconds is closed
  (mitmproxy's own inactivity watchdog closes any connection silent that long, TCP relays
  included);
- max connections: beyond `max_connections` client connections a request is answered at once
  with 503 and the reason (x-meshtool-overflow: maxClientConnections), never left to time out;
- request head size: an HTTP/1 request head (request line and headers) over MAX_HEAD_BYTES is
  answered 431 and the connection closed (mitmproxy's reader would buffer it without a bound;
  Envoy's default limit is 60 KiB too).

mitmproxy hands us each connection's handler with its events (master patches handle_hook);
one task checks the live connections once a second.
"""

from __future__ import annotations

import asyncio
import logging
import time

from mitmproxy import http

log = logging.getLogger("meshtool.sidecar")

MAX_HEAD_BYTES = 60 * 1024


class ConnectionLimits:
    def __init__(self, header_timeout: float = 10.0, idle_timeout: float = 300.0,
                 max_connections: int = 10_000):
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.waiting: dict = {}  # handler -> since when it waits for a request head (or None)
        self.closed = {"header": 0, "idle": 0}
        self.refused = 0
        self.served: set = set()  # handlers that have carried an exchange
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        from mitmproxy.proxy import server

        server.TCP_TIMEOUT = max(int(self.idle_timeout), 1)  # read when a handler is created
        limit_request_heads(MAX_HEAD_BYTES)
        self._task = asyncio.ensure_future(self._watch())

    def event(self, handler, name: str) -> None:
        """Called for every hook of every connection, before it is handled."""
        if name == "client_connected":
            self.waiting[handler] = time.monotonic()
        elif name == "client_disconnected":
            self.waiting.pop(handler, None)
            self.served.discard(handler)
        elif name == "requestheaders":
            if handler in self.waiting:
                self.waiting[handler] = None
        elif name in ("response", "error") and handler in self.waiting:
            self.waiting[handler] = time.monotonic()
            self.served.add(handler)

    def refuse(self, flow: http.HTTPFlow) -> bool:
        """Answer 503 when there are more client connections than allowed."""
        if len(self.waiting) <= self.max_connections or flow.response is not None:
            return False
        self.refused += 1
        flow.response = http.Response.make(
            503, f"overloaded: {len(self.waiting)} client connections (max "
                 f"{self.max_connections})\n".encode(),
            {"x-meshtool-overflow": "maxClientConnections", "connection": "close"})
        return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.header_timeout / 2))
            now = time.monotonic()
            for handler, since in list(self.waiting.items()):
                if since is None:
                    continue  # a request is in progress
                state = _head_state(handler)
                if state == "other":
                    continue
                if state == "partial" or handler not in self.served:
                    limit, kind = self.header_timeout, "header"
                else:  # a keep-alive connection between requests
                    limit, kind = self.idle_timeout, "idle"
                if now - since >= limit:
                    self.closed[kind] += 1
                    self.waiting[handler] = None
                    log.info("closing %s: %s timeout (%.0fs)", handler.client.peername, kind,
                             now - since)
                    asyncio.ensure_future(handler.on_timeout())


def _head_state(handler) -> str:
    """"partial": bytes of a request head are waiting; "none": nothing received since the last
    exchange (or at all); "other": not an HTTP/1 connection waiting for a head (TCP, TLS
    passed through, HTTP/2, a request in progress)."""
    from mitmproxy.proxy import layer as layer_mod
    from mitmproxy.proxy.layers import http as http_layers
    from mitmproxy.proxy.layers.http._http1 import Http1Server

    current = getattr(handler, "layer", None)
    for _ in range(12):
        if current is None:
            return "other"
        if isinstance(current, layer_mod.NextLayer):
            if current.layer is None:  # nothing decided: the client has not spoken (enough)
                return "partial" if current.data_client() else "none"
            current = current.layer
        elif isinstance(current, http_layers.HttpLayer):
            conn = current.connections.get(handler.client)
            if not isinstance(conn, Http1Server) or conn.state != conn.read_headers:
                return "other"
            return "partial" if len(conn.buf) else "none"
        elif getattr(current, "child_layer", None) is not None:  # reverse, transparent modes
            current = current.child_layer
        elif isinstance(getattr(current.__dict__.get("_handle_event"), "__self__", None),
                        layer_mod.Layer):  # the explicit proxy mode hands events on this way
            current = current.__dict__["_handle_event"].__self__
        else:
            return "other"  # TCP, TLS, WebSocket...: the idle watchdog's business
    return "other"


def limit_request_heads(max_bytes: int) -> None:
    """Answer 431 to an HTTP/1 request whose head does not end within `max_bytes` (idempotent)."""
    from mitmproxy.proxy import commands, events
    from mitmproxy.proxy.layers.http import _http1

    read = _http1.Http1Server.read_headers
    if getattr(read, "_meshtool", False):
        return

    def read_headers(self, event):
        if (isinstance(event, events.DataReceived) and len(self.buf) > max_bytes
                and bytes(self.buf).find(b"\r\n\r\n", 0, max_bytes + 4) < 0):
            log.info("%s: request head over %d bytes: 431", self.conn.peername, max_bytes)
            yield commands.SendData(self.conn, _http1.make_error_response(
                431, f"request head over {max_bytes} bytes"))
            yield commands.CloseConnection(self.conn)
            self.state = self.done
            return
        yield from read(self, event)

    read_headers._meshtool = True  # type: ignore[attr-defined]
    _http1.Http1Server.read_headers = read_headers
