"""Bigger reads for bulk transfers.

mitmproxy's loop for each connection asks its stream reader for at most 64 KiB
(`reader.read(65535)`) and runs the whole layer stack (HTTP/1 or HTTP/2 framing, the flow's
streaming, the write to the other side, a drain) once per read. A read returns what the socket
has already delivered and never waits to fill up, so asking for more changes nothing for small
messages, server-sent events or interactive TCP; a bulk body then passes in pieces of up to what
asyncio buffers (it receives 256 KiB at a time), with the per-read cost paid a quarter as often.
Measured with `python -m bench streaming` (bench/RESULTS.md).

Applied once, in the sidecar process only (meshtool.sidecar.master), by giving mitmproxy's
connection records (`ConnectionIO`, one per client and server connection) a reader whose
`read(n)` asks for at least READ_SIZE; tests/sidecar/test_bulkreads.py checks that mitmproxy
still reads through that record's reader, so a mitmproxy upgrade that changes it fails a test
instead of silently dropping the change.
"""

from __future__ import annotations

import asyncio

READ_SIZE = 1 << 18


def _at_least(read):
    def bulk_read(n: int = -1):
        return read(READ_SIZE if 0 < n < READ_SIZE else n)
    return bulk_read


def install() -> None:
    """Idempotent."""
    from mitmproxy.proxy import server

    if getattr(server.ConnectionIO, "_meshtool_bulk", False):
        return

    class BulkConnectionIO(server.ConnectionIO):
        _meshtool_bulk = True

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            if isinstance(self.reader, asyncio.StreamReader):
                self.reader.read = _at_least(self.reader.read)  # type: ignore[method-assign]

    server.ConnectionIO = BulkConnectionIO  # type: ignore[misc]
