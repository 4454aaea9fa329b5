"""A small pooled HTTP/1.1 client: how the sidecar talks to endpoints and external hosts.

mitmproxy parses the client side; the upstream exchange is ours so that per-try timeouts,
retries on another endpoint, in-flight counts and TLS origination are in our hands.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

HOP_BY_HOP = {b"connection", b"proxy-connection", b"keep-alive", b"transfer-encoding", b"te",
              b"trailer", b"upgrade", b"content-length", b"proxy-authorization"}


class UpstreamError(Exception):
    """The exchange failed before a complete response arrived (connect, reset, bad reply)."""


@dataclass
class Reply:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]  # without hop-by-hop fields
    body: bytes


class Upstream:
    def __init__(self, max_idle: int = 64):
        self.idle: dict[tuple[str, int, bool], list[tuple[asyncio.StreamReader,
                                                          asyncio.StreamWriter]]] = {}
        self.max_idle = max_idle
        self._tls: ssl.SSLContext | None = None

    def tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    async def request(self, host: str, port: int, method: str, target: str,
                      headers: list[tuple[bytes, bytes]], body: bytes, *, tls: bool = False,
                      server_name: str | None = None, timeout: float | None = None) -> Reply:
        """One exchange; a stale pooled connection is replaced once, transparently."""
        head = _assemble(method, target, headers, body)
        coro = self._exchange((host, port, tls), server_name, method, head, body)
        try:
            return await (asyncio.wait_for(coro, timeout) if timeout else coro)
        except asyncio.TimeoutError:  # an OSError since 3.11: keep it apart from failures
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                IndexError) as exc:
            raise UpstreamError(f"{type(exc).__name__}: {exc}" if str(exc) else
                                type(exc).__name__) from exc

    async def _exchange(self, key, server_name, method, head, body) -> Reply:
        pool = self.idle.get(key)
        while pool:
            reader, writer = pool.pop()
            if reader.at_eof() or writer.is_closing():
                writer.close()
                continue
            try:
                return await self._send(key, reader, writer, method, head, body)
            except _Stale:
                continue  # the server closed it while idle: try the next one
        host, port, tls = key
        reader, writer = await asyncio.open_connection(
            host, port, ssl=self.tls_context() if tls else None,
            server_hostname=(server_name or host) if tls else None)
        try:
            return await self._send(key, reader, writer, method, head, body)
        except _Stale as exc:
            raise ConnectionResetError("connection closed before a response") from exc

    async def _send(self, key, reader, writer, method, head, body) -> Reply:
        try:
            writer.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                writer.write(body)
            line = await reader.readline()
            if not line:
                writer.close()
                raise _Stale()
        except _Stale:
            raise
        except (ConnectionResetError, BrokenPipeError) as exc:
            writer.close()
            raise _Stale() from exc
        except BaseException:  # a timeout's cancellation included: never pool a used socket
            writer.close()
            raise
        try:
            reply, reusable = await _read_reply(reader, line, method)
        except BaseException:
            writer.close()
            raise
        pool = self.idle.setdefault(key, [])
        if reusable and len(pool) < self.max_idle:
            pool.append((reader, writer))
        else:
            writer.close()
        return reply


class _Stale(Exception):
    pass


def _assemble(method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    out = [f"{method} {target} HTTP/1.1\r\n".encode()]
    for name, value in headers:
        if name.lower() not in HOP_BY_HOP:
            out.append(name + b": " + value + b"\r\n")
    if body or method in ("POST", "PUT", "PATCH"):
        out.append(b"content-length: %d\r\n" % len(body))
    out.append(b"\r\n")
    return b"".join(out)


async def _read_reply(reader: asyncio.StreamReader, line: bytes, method: str) -> tuple[Reply, bool]:
    parts = line.rstrip(b"\r\n").split(b" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else b""
    raw = await reader.readuntil(b"\r\n\r\n")
    headers, length, chunked, close = [], None, False, parts[0] == b"HTTP/1.0"
    for field_line in raw[:-4].split(b"\r\n"):
        if not field_line:
            continue
        name, _, value = field_line.partition(b":")
        name, value = name.strip(), value.strip()
        low = name.lower()
        if low == b"content-length":
            length = int(value)
        elif low == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif low == b"connection":
            close = b"close" in value.lower() or (close and b"keep-alive" not in value.lower())
        if low not in HOP_BY_HOP:
            headers.append((name, value))
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        if length is not None and method == "HEAD":
            headers.append((b"content-length", str(length).encode()))
        return Reply(status, reason, headers, b""), not close
    if chunked:
        body = await _read_chunked(reader)
    elif length is not None:
        body = await reader.readexactly(length)
    else:
        body, close = await reader.read(), True
    headers.append((b"content-length", str(len(body)).encode()))
    return Reply(status, reason, headers, body), not close


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size = int((await reader.readline()).split(b";")[0].strip(), 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers: dropped
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
