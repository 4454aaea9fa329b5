"""The admin and health ports: small HTTP/1.1 servers on asyncio (h11 parses), GET only.

- admin (127.0.0.1 in every mode): /ready, /stats/prometheus, /config_dump, /app-health/...
  Everything that reveals configuration stays on loopback.
- health (the pod address in transparent mode, 15021 as Istio's): /ready and the rewritten
  Kubernetes probes /app-health/... (what the kubelet needs) and /stats/prometheus (for the
  cluster's Prometheus), nothing else.

One request per connection; the request head must arrive within HEAD_TIMEOUT seconds.
"""

from __future__ import annotations

import asyncio
import json
from typing import Callable

import h11

from meshtool.sidecar.probes import run_probe

HEAD_TIMEOUT = 5.0
MAX_HEAD = 16 * 1024


class AdminServer:
    def __init__(self, state, metrics_text: Callable[[], str], probes: dict | None = None,
                 health_only: bool = False):
        self.state = state
        self.metrics_text = metrics_text
        self.probes = probes or {}
        self.health_only = health_only
        self.server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self._handle, host, port, backlog=1024)

    @property
    def address(self) -> str:
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        try:
            request = await asyncio.wait_for(_read_request(conn, reader), HEAD_TIMEOUT)
            if request is None:
                return
            status, ctype, body = await self.route(request.method.decode(),
                                                   request.target.decode())
            if request.method == b"HEAD":
                body_out = b""
            else:
                body_out = body
            writer.write(conn.send(h11.Response(status_code=status, headers=[
                ("content-type", ctype), ("content-length", str(len(body))),
                ("connection", "close")])))
            writer.write(conn.send(h11.Data(data=body_out)) if body_out else b"")
            writer.write(conn.send(h11.EndOfMessage()))
            await writer.drain()
        except (asyncio.TimeoutError, h11.RemoteProtocolError, ConnectionError):
            pass
        finally:
            writer.close()

    async def route(self, method: str, target: str) -> tuple[int, str, bytes]:
        path = target.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        if path == "/ready":
            st = self.state
            if st.ready:
                return 200, "text/plain", f"ready: snapshot {st.version}\n".encode()
            why = ("not listening yet" if not st.listening else "no valid snapshot yet"
                   if st.snapshot is None else "waiting for the workload certificate")
            return 503, "text/plain", f"not ready: {why}\n".encode()
        if path in self.probes:
            status, text = await run_probe(self.probes[path])
            return status, "text/plain", (text + "\n").encode()
        if path == "/stats/prometheus":
            return 200, "text/plain; version=0.0.4", self.metrics_text().encode()
        if self.health_only:
            return 404, "text/plain", (b"not found: the health port serves /ready, /app-health/ "
                                       b"and /stats/prometheus only (the admin port is on "
                                       b"loopback)\n")
        if path == "/certs":  # chain, SPIFFE ID, serial, expiry: never the key
            certs = self.state.certs
            doc = certs.describe() if certs is not None else {"state": "off"}
            doc["inbound"] = self.state.inbound_view()
            return 200, "application/json", (json.dumps(doc, indent=2) + "\n").encode()
        if path == "/config_dump":
            return 200, "application/json", (json.dumps(self.state.config_dump(), indent=2,
                                                        default=str) + "\n").encode()
        return 404, "text/plain", b"not found: try /ready, /stats/prometheus, /config_dump, /certs\n"


async def _read_request(conn: h11.Connection, reader: asyncio.StreamReader):
    """The request head, or None when the peer went away first."""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Request):
            return event
        if event is h11.NEED_DATA:
            data = await reader.read(4096)
            conn.receive_data(data)
            if not data:
                return None
        elif isinstance(event, h11.ConnectionClosed):
            return None
