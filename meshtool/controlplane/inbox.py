"""The push stream's WebSocket, with ACKs handled as aiohttp's parser delivers them.

At 10,000 proxies a push round brings 10,000 ACKs. Through aiohttp's WebSocket API each one
resolves a future and wakes its stream's task, which steps through receive() and creates the
next future: per ACK more work than handling the ACK itself. aiohttp's parser hands every
message to its queue's `feed_data`; the queue here offers a text message to a callback first
(`Stream.offer_text`), which handles an ACK right there and declines anything else. What is
declined, and every message while others are waiting in the queue (their order is kept), is
queued for the stream's task as before.

This uses two aiohttp internals, `WebSocketResponse._post_start` and the queue class that
`aiohttp.web_ws` constructs (`WebSocketDataQueue`, aiohttp 3.10 and later). Without them the
stream works as before through the public API; tests/controlplane/test_inbox.py fails by name
when an aiohttp release takes them away.
"""

from __future__ import annotations

from typing import Any, Callable

from aiohttp import WSMsgType, web, web_ws

_Queue: Any = getattr(web_ws, "WebSocketDataQueue", None)
_TEXT = WSMsgType.TEXT

if _Queue is not None:
    class _Inbox(_Queue):  # type: ignore[misc, valid-type]
        """aiohttp's message queue, offering text messages to `offer` first."""

        offer: Callable[[str], bool] | None = None

        def feed_data(self, data: Any, size: int) -> None:
            offer = self.offer
            if offer is not None and data[0] is _TEXT and not self._buffer and offer(data[1]):
                return  # handled: nobody waits for it
            _Queue.feed_data(self, data, size)
else:  # pragma: no cover - an aiohttp without the queue class: the public API only
    _Inbox = None


class Stream(web.WebSocketResponse):
    """A WebSocketResponse whose text messages can be offered to a callback first."""

    def _post_start(self, request: Any, protocol: Any, writer: Any) -> None:
        if _Inbox is None:
            return super()._post_start(request, protocol, writer)
        web_ws.WebSocketDataQueue = _Inbox  # what the next line constructs; one thread
        try:
            return super()._post_start(request, protocol, writer)
        finally:
            web_ws.WebSocketDataQueue = _Queue

    def offer_text(self, handler: Callable[[str], bool]) -> bool:
        """From now on each text message goes to `handler(text)` first; one it returns True
        for is not queued for receive(). False when this aiohttp cannot (nothing changes)."""
        reader = getattr(self, "_reader", None)
        if _Inbox is None or not isinstance(reader, _Inbox):
            return False
        reader.offer = handler
        return True
