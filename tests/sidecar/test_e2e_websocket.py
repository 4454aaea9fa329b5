"""End to end, WebSocket through the explicit proxy: an http:// URL upgraded and a ws:// URL (which
aiohttp sends as an absolute-form `GET ws://chat/ws` to its proxy), each routed to the mesh
service's endpoint by a real sidecar, against a real aiohttp server and client; and a plain
Upgrade request to the app through its sidecar's inbound port."""

from __future__ import annotations

import asyncio
import threading

import pytest

aiohttp = pytest.importorskip("aiohttp")
from aiohttp import web  # noqa: E402

from sidecar_mesh import free_port  # noqa: E402

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def ws_server():
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def echo(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str(f"echo {msg.data} via {request.host}")
        return ws

    async def main():
        app = web.Application()
        app.router.add_get("/ws", echo)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        started.set()

    threading.Thread(target=lambda: (loop.run_until_complete(main()), loop.run_forever()),
                     daemon=True).start()
    assert started.wait(10)
    yield port
    loop.call_soon_threadsafe(loop.stop)


@pytest.mark.parametrize("scheme", ["http", "ws"])
def test_websocket_through_the_explicit_proxy(mesh, ws_server, scheme):
    sc = mesh.sidecar(f"ws-{scheme}", {"version": "1", "services": [{"name": "chat", "endpoints": [
        {"address": "127.0.0.1", "port": ws_server, "labels": {"version": "v1"}}]}]},
        "--service", "client")
    sc.wait_ready()

    async def scenario():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{scheme}://chat/ws",
                                          proxy=f"http://127.0.0.1:{sc.outbound}") as ws:
                await ws.send_str("hello")
                return (await ws.receive(timeout=5)).data

    assert asyncio.run(scenario()) == "echo hello via chat"


def test_websocket_upgrade_through_the_inbound_port(mesh, ws_server):
    """A plain Upgrade request (origin-form) reaching the app through its own sidecar."""
    sc = mesh.sidecar("ws-inbound", {"version": "1"}, "--service", "chat", "--app-port",
                      str(ws_server))
    sc.wait_ready()

    async def scenario():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"ws://127.0.0.1:{sc.inbound}/ws") as ws:
                replies = []
                for word in ("one", "two"):
                    await ws.send_str(word)
                    replies.append((await ws.receive(timeout=5)).data)
                return replies

    assert asyncio.run(scenario()) == [f"echo {w} via 127.0.0.1:{sc.inbound}" for w in
                                       ("one", "two")]
