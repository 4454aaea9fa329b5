"""Bulk reads: once installed, mitmproxy's connection records hand out readers that return
everything already received (up to READ_SIZE) when mitmproxy asks for 64 KiB, over a real
socket; and mitmproxy still reads each connection through its record's reader."""

from __future__ import annotations

import asyncio
import inspect
import socket

from meshtool.sidecar import bulkreads


def test_a_64k_read_returns_what_has_arrived_up_to_read_size():
    from mitmproxy.proxy import server

    bulkreads.install()
    bulkreads.install()  # idempotent: one wrapper, not two

    async def main() -> tuple[int, int, bytes]:
        ours, theirs = socket.socketpair()
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        reader, writer = await asyncio.open_connection(sock=ours)
        io = server.ConnectionIO(handler=None, reader=reader, writer=writer)
        payload = bytes(range(256)) * 1024  # 256 KiB
        theirs.sendall(payload)
        await asyncio.sleep(0.2)  # let the transport buffer what it can
        first = await io.reader.read(65535)
        rest = b""
        while len(first) + len(rest) < len(payload):
            rest += await io.reader.read(65535)
        theirs.sendall(b"tail")
        small = await io.reader.read(65535)  # a short message comes back at once, whole
        writer.close()
        theirs.close()
        assert first + rest == payload
        return len(first), len(payload), small

    first, total, small = asyncio.run(main())
    assert 65535 < first <= bulkreads.READ_SIZE
    assert small == b"tail"


def test_mitmproxy_reads_each_connection_through_its_records_reader():
    from mitmproxy.proxy import server

    source = inspect.getsource(server.ConnectionHandler.handle_connection)
    assert "self.transports[connection].reader" in source
    assert "reader.read(" in source
    assert "ConnectionIO(" in inspect.getsource(server.ConnectionHandler.open_connection)
