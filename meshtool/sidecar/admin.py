"""The admin port: /ready, /stats/prometheus, /config_dump, /app-health/...

A deliberately tiny HTTP/1.1 server on asyncio: one request per connection, GET only.
In a pod the kubelet must reach the rewritten probes on the pod's address, so there the port
listens on all addresses, but only /ready, /app-health/... and /stats/prometheus (for the
cluster's Prometheus) answer callers that are not on loopback: the configuration stays local.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from typing import Callable

from meshtool.sidecar.probes import run_probe


class AdminServer:
    def __init__(self, state, metrics_text: Callable[[], str], probes: dict | None = None):
        self.state = state
        self.metrics_text = metrics_text
        self.probes = probes or {}
        self.server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self._handle, host, port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, target = head.split(b" ", 2)[:2]
            peer = (writer.get_extra_info("peername") or ("",))[0]
            status, ctype, body = await self.route(method.decode(), target.decode(),
                                                   local=_is_loopback(peer))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ValueError, ConnectionError):
            writer.close()
            return
        writer.write(f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}\r\n"
                     f"content-type: {ctype}\r\ncontent-length: {len(body)}\r\n"
                     f"connection: close\r\n\r\n".encode() + body)
        try:
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    async def route(self, method: str, target: str, local: bool = True
                    ) -> tuple[int, str, bytes]:
        path = target.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        if not local and path not in ("/ready", "/stats/prometheus") and \
                not path.startswith("/app-health/"):
            return 403, "text/plain", \
                b"only /ready, /app-health/ and /stats/prometheus answer off loopback\n"
        if path == "/ready":
            st = self.state
            if st.ready:
                return 200, "text/plain", f"ready: snapshot {st.version}\n".encode()
            why = "not listening yet" if not st.listening else "no valid snapshot yet"
            return 503, "text/plain", f"not ready: {why}\n".encode()
        if path == "/stats/prometheus":
            return 200, "text/plain; version=0.0.4", self.metrics_text().encode()
        if path == "/config_dump":
            return 200, "application/json", (json.dumps(self.state.config_dump(), indent=2,
                                                        default=str) + "\n").encode()
        if path in self.probes:
            status, text = await run_probe(self.probes[path])
            return status, "text/plain", (text + "\n").encode()
        return 404, "text/plain", b"not found: try /ready, /stats/prometheus, /config_dump\n"


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback or address.startswith(
            "::ffff:127.")
    except ValueError:
        return address == ""  # a Unix socket or a test double

