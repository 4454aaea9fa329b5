"""Retries and timeouts inside mitmproxy's own HTTP stream: bodies flow, decisions use headers.

mitmproxy parses both sides (h11/h2) and owns the upstream connections; this subclass of its
HttpStream only adds what a mesh proxy needs on top:

- the endpoints to try come from flow.metadata[flowkeys.TARGETS] (set by the Forward addon),
  a failed connect moves on to the next one;
- a per-try timeout and a total deadline run until the response headers arrive;
- a 5xx (or the route's retry codes), a failed connect, a reset before the headers or a
  per-try timeout is retried when the request body was kept (mitmproxy buffers it up to
  `stream_large_bodies`, 64 KiB by default; a larger body is streamed to the endpoint and
  sent once, never retried);
- a route's backoff waits before each retry (a wakeup, so the proxy never blocks):
  backoff, then doubling up to 10x, each plus up to half again at random;
- response bodies are never held: once headers are accepted they stream to the client.

Leaves meshtool.attempts and meshtool.attempt_log ([(endpoint key, status or None)]) in
flow.metadata and x-meshtool-attempts on the response.
"""

from __future__ import annotations

import itertools
import random
import time

from mitmproxy import http
from mitmproxy.proxy import commands, events, layer
from mitmproxy.proxy.layers import http as http_layers
from mitmproxy.proxy.layers.http import (
    HttpStream,
    RequestData,
    RequestEndOfMessage,
    RequestHeaders,
    RequestTrailers,
    ResponseHeaders,
    ResponseProtocolError,
)
from mitmproxy.proxy.layers.http._http1 import Http1Client
from mitmproxy.proxy.layers.http._http2 import Http2Client
from mitmproxy.proxy.layers.http._hooks import HttpResponseHeadersHook
from mitmproxy.proxy.utils import expect

from meshtool.model.types import Retry
from meshtool.sidecar import flowkeys

WEBSOCKET_SCHEMES = {"ws": "http", "wss": "https"}  # absolute-form targets of upgrade requests
_dead_ids = itertools.count(-1, -1)  # stream ids nobody listens to: stale events go there
_NO_RETRY = Retry(0, None)


class MeshStream(HttpStream):
    """One request/response exchange with mesh retries (see the module docstring)."""

    tries = 0
    timer: commands.RequestWakeup | None = None
    backoff: commands.RequestWakeup | None = None  # waiting before a retry
    target_key: str | None = None
    outstanding = False  # a try is counted in meshtool.active
    answered = False  # we answered the client ourselves

    def _handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        if isinstance(event, events.Wakeup):
            if event.command is self.timer:
                yield from self._on_timeout()
            elif event.command is self.backoff:
                self.backoff = None
                yield from self._resend()
            return
        yield from super()._handle_event(event)

    # -- what the client asked for ----------------------------------------------------------

    def check_invalid(self, request: bool) -> layer.CommandGenerator[bool]:
        if request and self.flow.request.scheme in WEBSOCKET_SCHEMES:
            # `GET ws://host/path` through an explicit proxy (aiohttp, websockets): the same
            # upgrade request as `GET http://host/path`, which mitmproxy's HTTP layer accepts
            self.flow.request.scheme = WEBSOCKET_SCHEMES[self.flow.request.scheme]
        return (yield from super().check_invalid(request))

    # -- where to go ------------------------------------------------------------------------

    def _next_target(self) -> bool:
        """Point the request at the next endpoint; False when there is nothing to point at."""
        targets = self.flow.metadata.get(flowkeys.TARGETS)
        if not targets:
            return False
        host, port, tls, key = targets[self.tries % len(targets)]
        data = self.flow.request.data  # .data: the Host header stays as the client sent it
        data.host, data.port, data.scheme = host, port, b"https" if tls else b"http"
        self.target_key = key
        return True

    def _record(self, status: int | None) -> None:
        md = self.flow.metadata
        log = md.setdefault(flowkeys.ATTEMPT_LOG, [])
        log.append((self.target_key, status))
        md[flowkeys.ATTEMPTS] = len(log)
        self._end_try()

    def _start_try(self) -> None:
        self.tries += 1
        active = self.flow.metadata.get(flowkeys.ACTIVE)
        if self.target_key and active is not None:
            active[self.target_key] = active.get(self.target_key, 0) + 1
            self.outstanding = True

    def _end_try(self) -> None:
        if self.outstanding:
            self.outstanding = False
            active = self.flow.metadata[flowkeys.ACTIVE]
            active[self.target_key] = active.get(self.target_key, 1) - 1

    def _budget(self) -> tuple[Retry, float | None]:
        """(the route's retry policy, the deadline) from the Forward addon's metadata."""
        md = self.flow.metadata
        return md.get(flowkeys.RETRY) or _NO_RETRY, md.get(flowkeys.DEADLINE)

    def _retried_status(self, status: int) -> bool:
        codes = self._budget()[0].codes
        return status >= 500 if codes is None else status in codes

    def _backoff_delay(self) -> float:
        """Seconds to wait before the next try (0: at once); self.tries tries are done."""
        base = self._budget()[0].backoff
        if not base:
            return 0.0
        delay = min(base * 2 ** (self.tries - 1), base * 10)
        return delay * (1 + random.random() / 2)

    def _may_retry(self) -> bool:
        retry, deadline = self._budget()
        return (self.tries <= retry.attempts
                and not self.flow.request.stream  # the body was not kept: send once
                and self.client_state == self.state_done
                and (deadline is None or time.monotonic() < deadline))

    # -- connecting -------------------------------------------------------------------------

    def make_server_connection(self) -> layer.CommandGenerator[bool]:
        if self.tries == 0:
            self._next_target()
        while True:
            self._start_try()
            connection, err = yield http_layers.GetHttpConnection(
                (self.flow.request.host, self.flow.request.port),
                self.flow.request.scheme == "https",
                self.flow.server_conn.via,
                self.flow.server_conn.transport_protocol,
            )
            if not err:
                self.context.server = self.flow.server_conn = connection
                self._arm_timer()
                return True
            self._record(None)
            if self._may_retry() and self._next_target():
                if delay := self._backoff_delay():
                    # Try again after the wait (_resend); meanwhile nothing is sent.
                    self.backoff = commands.RequestWakeup(delay)
                    yield self.backoff
                    return False
                continue
            yield from self._answer(503, f"upstream connect error or disconnect/reset: {err}")
            return False

    def _arm_timer(self) -> None:
        retry, deadline = self._budget()
        limit = retry.per_try_timeout
        if deadline is not None:
            left = max(deadline - time.monotonic(), 0.0)
            limit = min(limit, left) if limit else left
        self.timer = commands.RequestWakeup(limit) if limit is not None else None

    def start_request_stream(self) -> layer.CommandGenerator[None]:
        if self.flow.response:  # answered already (a denial, a fault): drop the body
            self.client_state = self.state_discard_request_body
            return
        yield from super().start_request_stream()
        if self.answered:  # every connect failed: the rest of the body goes nowhere
            self.client_state = self.state_discard_request_body
        elif self.timer is not None:
            yield self.timer

    @expect(RequestData, RequestTrailers, RequestEndOfMessage)
    def state_consume_request_body(self, event: events.Event) -> layer.CommandGenerator[None]:
        yield from super().state_consume_request_body(event)
        if isinstance(event, RequestEndOfMessage) and self.timer is not None and not self.flow.response:
            yield self.timer

    @expect(RequestData, RequestTrailers, RequestEndOfMessage)
    def state_discard_request_body(self, event: events.Event) -> layer.CommandGenerator[None]:
        if isinstance(event, RequestEndOfMessage):
            self.client_state = self.state_done
            if self.answered or self.server_state == self.state_done:
                yield from self.flow_done()
            elif self.flow.response is not None and self.server_state != self.state_errored:
                yield HttpResponseHeadersHook(self.flow)
                yield from self.send_response()

    # -- the response -----------------------------------------------------------------------

    @expect(ResponseHeaders)
    def state_wait_for_response_headers(self, event: ResponseHeaders) -> layer.CommandGenerator[None]:
        self.timer = None
        status = event.response.status_code
        self._record(status)
        if self._retried_status(status) and self._may_retry() and self._next_target():
            yield from self._retry()
            return
        if flowkeys.TARGETS in self.flow.metadata:
            event.response.headers["x-meshtool-attempts"] = str(self.tries)
        yield from super().state_wait_for_response_headers(event)

    def handle_protocol_error(self, event) -> layer.CommandGenerator[None]:
        before_headers = (isinstance(event, ResponseProtocolError)
                          and self.server_state == self.state_wait_for_response_headers
                          and self.flow is not None and self.flow.response is None)
        if not before_headers:
            self._end_try()
            yield from super().handle_protocol_error(event)
            return
        self.timer = None
        self._record(None)
        if self._may_retry() and self._next_target():
            yield from self._retry()
            return
        yield from self._abandon()
        yield from self._answer(503, f"upstream connect error or disconnect/reset: {event.message}")

    def _on_timeout(self) -> layer.CommandGenerator[None]:
        self.timer = None
        if self.server_state != self.state_wait_for_response_headers or self.flow.response:
            return
        self._record(None)
        if self._may_retry() and self._next_target():
            yield from self._retry()
            return
        yield from self._abandon()
        yield from self._answer(504, "upstream request timeout")

    def _abandon(self) -> layer.CommandGenerator[None]:
        """Stop listening to the current upstream exchange and close its connection."""
        conn = self.context.server
        handler = _http_layer(self).connections.get(conn) if conn is not None else None
        while handler is not None and not isinstance(handler, (Http1Client, Http2Client)):
            handler = getattr(handler, "child_layer", None)
        if isinstance(handler, Http2Client):
            yield http_layers.SendHttp(http_layers.RequestProtocolError(
                self.stream_id, "abandoned by the sidecar"), conn)
            return
        if isinstance(handler, Http1Client) and handler.stream_id == self.stream_id:
            handler.stream_id = next(_dead_ids)  # its late events now reach nobody
        if conn is not None and conn.connected:
            yield commands.CloseConnection(conn)

    def _retry(self) -> layer.CommandGenerator[None]:
        yield from self._abandon()
        self.flow.response = None
        if delay := self._backoff_delay():
            self.backoff = commands.RequestWakeup(delay)
            yield self.backoff  # _resend when it fires
            return
        yield from self._resend()

    def _resend(self) -> layer.CommandGenerator[None]:
        """Send the kept request again, to the endpoint _next_target chose."""
        if self.client_state == self.state_errored:
            return  # the client went away while we waited
        if not (yield from self.make_server_connection()):
            return
        req = self.flow.request
        content = req.raw_content
        yield http_layers.SendHttp(RequestHeaders(self.stream_id, req, not (content or req.trailers)),
                                   self.context.server)
        if content:
            yield http_layers.SendHttp(RequestData(self.stream_id, content), self.context.server)
        if req.trailers:
            yield http_layers.SendHttp(RequestTrailers(self.stream_id, req.trailers),
                                       self.context.server)
        yield http_layers.SendHttp(RequestEndOfMessage(self.stream_id), self.context.server)
        if self.timer is not None:
            yield self.timer

    def _answer(self, status: int, error: str) -> layer.CommandGenerator[None]:
        """Answer the client ourselves: every try failed before a response arrived."""
        self.flow.response = http.Response.make(status, f"{error}\n".encode(), {
            "x-meshtool-error": error, "x-meshtool-attempts": str(self.tries)})
        self.flow.metadata[flowkeys.ERROR] = error
        self.answered = True
        self.server_state = self.state_wait_for_response_headers  # not errored: we answer
        if self.client_state not in (self.state_done, self.state_errored):
            self.client_state = self.state_discard_request_body
        yield HttpResponseHeadersHook(self.flow)
        yield from self.send_response()


def _http_layer(stream: MeshStream):
    for candidate in reversed(stream.context.layers):
        if isinstance(candidate, http_layers.HttpLayer):
            return candidate
    raise AssertionError("an HttpStream outside an HttpLayer")


def install() -> None:
    """Make mitmproxy's HTTP layer create MeshStreams, and its request-line reader know the
    WebSocket schemes' default ports (RFC 6455: ws 80, wss 443), so that `GET ws://host/path`
    parses instead of being refused as a bad request line (idempotent)."""
    from mitmproxy.net.http import url

    http_layers.HttpStream = MeshStream
    if not getattr(url.default_port, "_meshtool", False):
        known = url.default_port

        def default_port(scheme):
            port = known(scheme)
            if port is None and isinstance(scheme, (str, bytes)):
                name = scheme.decode("ascii", "replace") if isinstance(scheme, bytes) else scheme
                if name in WEBSOCKET_SCHEMES:
                    port = known(WEBSOCKET_SCHEMES[name])
            return port

        default_port._meshtool = True  # type: ignore[attr-defined]
        url.default_port = default_port
