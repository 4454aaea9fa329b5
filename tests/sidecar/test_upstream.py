import asyncio

import pytest

from meshtool.sidecar.upstream import Upstream, UpstreamError


async def serve(replies, seen=None, close_after=None):
    """A scripted HTTP/1.1 server: each request gets the next raw reply."""
    count = {"n": 0, "conns": 0}

    async def handle(reader, writer):
        count["conns"] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if seen is not None:
                    seen.append(head)
                i = count["n"]
                count["n"] += 1
                reply = replies[min(i, len(replies) - 1)]
                if isinstance(reply, float):
                    await asyncio.sleep(reply)
                    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlate"
                if reply is None:
                    writer.close()
                    return
                writer.write(reply)
                await writer.drain()
                if close_after and count["n"] >= close_after:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], count


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


def test_keep_alive_connections_are_reused():
    async def scenario():
        seen = []
        server, port, count = await serve([OK], seen)
        client = Upstream()
        for _ in range(3):
            r = await client.request("127.0.0.1", port, "GET", "/x", [(b"host", b"svc")], b"")
            assert (r.status, r.body) == (200, b"ok")
        assert count["conns"] == 1
        assert seen[0].startswith(b"GET /x HTTP/1.1\r\nhost: svc\r\n")
        server.close()

    asyncio.run(scenario())


def test_chunked_body_is_decoded_and_delimited():
    chunked = (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: 1\r\n\r\n"
               b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")

    async def scenario():
        server, port, _ = await serve([chunked])
        r = await Upstream().request("127.0.0.1", port, "GET", "/", [], b"")
        assert r.body == b"hello world"
        assert (b"content-length", b"11") in r.headers
        assert not any(k == b"transfer-encoding" for k, _ in r.headers)
        server.close()

    asyncio.run(scenario())


def test_a_connection_closed_while_idle_is_replaced_transparently():
    async def scenario():
        server, port, count = await serve([OK], close_after=1)
        client = Upstream()
        await client.request("127.0.0.1", port, "GET", "/", [], b"")
        await asyncio.sleep(0.05)
        r = await client.request("127.0.0.1", port, "GET", "/", [], b"")
        assert r.status == 200 and count["conns"] == 2
        server.close()

    asyncio.run(scenario())


def test_connect_refused_and_timeout():
    async def scenario():
        server, port, _ = await serve([0.5])
        with pytest.raises(asyncio.TimeoutError):
            await Upstream().request("127.0.0.1", port, "GET", "/", [], b"", timeout=0.05)
        server.close()
        await server.wait_closed()
        with pytest.raises(UpstreamError):
            await Upstream().request("127.0.0.1", port, "GET", "/", [], b"")

    asyncio.run(scenario())


def test_http10_reply_without_length_reads_to_close_and_is_not_pooled():
    async def scenario():
        server, port, count = await serve([b"HTTP/1.0 200 OK\r\nx-a: 1\r\n\r\nold style"],
                                          close_after=1)
        client = Upstream()
        for _ in range(2):
            r = await client.request("127.0.0.1", port, "GET", "/", [], b"")
            assert (r.status, r.body) == (200, b"old style")
        assert count["conns"] == 2 and not client.idle[("127.0.0.1", port, False)]
        server.close()

    asyncio.run(scenario())


def test_request_body_gets_a_length_and_hop_by_hop_headers_are_dropped():
    async def scenario():
        seen = []
        server, port, _ = await serve([OK], seen)
        await Upstream().request("127.0.0.1", port, "POST", "/p", [
            (b"host", b"svc"), (b"connection", b"keep-alive"), (b"proxy-connection", b"x"),
            (b"transfer-encoding", b"chunked")], b"hello")
        head = seen[0].lower()
        assert b"content-length: 5\r\n" in head
        assert b"proxy-connection" not in head and b"transfer-encoding" not in head
        server.close()

    asyncio.run(scenario())
