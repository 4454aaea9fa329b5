"""The push stream's WebSocket: text messages offered to a callback as they are parsed, the rest
(and everything while messages wait, in order) received as before. Real aiohttp on both ends.
The first test names the aiohttp internals the offer relies on: when a release takes them away
it fails here, and the control plane falls back to the public API (slower, still correct)."""

import asyncio

import aiohttp
from aiohttp import web, web_ws

from meshtool.controlplane.inbox import Stream
from meshtool.ports import free_port


def test_the_installed_aiohttp_has_what_the_offer_relies_on():
    assert hasattr(web_ws, "WebSocketDataQueue"), "aiohttp.web_ws.WebSocketDataQueue is gone"
    assert hasattr(web.WebSocketResponse, "_post_start"), "WebSocketResponse._post_start is gone"


async def _serve(handler):
    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"ws://127.0.0.1:{port}/ws"


def test_offered_messages_skip_the_queue_and_the_rest_keep_their_order():
    taken, received, offer_ok = [], [], []

    async def handler(request):
        ws = Stream()
        await ws.prepare(request)

        def offer(text: str) -> bool:
            if text.startswith("ack"):
                taken.append(text)
                return True
            return False

        offer_ok.append(ws.offer_text(offer))
        async for msg in ws:
            received.append(msg.data)
            await ws.send_str(f"got {msg.data}")
            if msg.data == "done":
                break
        await ws.close()
        return ws

    async def main():
        runner, url = await _serve(handler)
        try:
            async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
                await ws.send_str("ack 1")
                await ws.send_str("csr 1")
                assert (await ws.receive(timeout=5)).data == "got csr 1"
                await ws.send_str("ack 2")  # nothing waits in the queue: offered, taken
                # back to back: "ack 3" may find "other" still queued, then it queues too
                for text in ("other", "ack 3", "more", "done"):
                    await ws.send_str(text)
                while (await ws.receive(timeout=5)).data != "got done":
                    pass
        finally:
            await runner.cleanup()

    asyncio.run(main())
    assert offer_ok == [True]
    assert taken[:2] == ["ack 1", "ack 2"] and "ack 1" not in received and "ack 2" not in received
    sent = ["ack 1", "csr 1", "ack 2", "other", "ack 3", "more", "done"]
    assert sorted(taken + received) == sorted(sent)  # each once: taken or received
    assert received == [t for t in sent if t in received]  # in the order sent


def test_a_plain_response_is_unchanged_and_offering_before_prepare_declines():
    ws = Stream()
    assert ws.offer_text(lambda text: True) is False  # not prepared: no queue yet
