"""Mirror: a fire-and-forget copy of each request to the rule's mirror subset.

The copy's Host gets a "-shadow" suffix so the mirror can tell it apart; its reply is dropped
and its failure never touches the real request. The copy leaves once the request is complete
(its body kept by the Forward addon, up to the retry buffer; a larger body is not copied) and is
sent by aiohttp, not by the proxy's own connections.
"""

from __future__ import annotations

import asyncio

from mitmproxy import http

from meshtool.sidecar import flowkeys

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "content-length", "host", "proxy-authorization"}


class Mirror:
    def __init__(self, client=None):
        self.tasks: set[asyncio.Task] = set()
        self.sent = 0
        self._session = None

    def request(self, flow: http.HTTPFlow) -> None:
        rule = flow.metadata.get(flowkeys.RULE)
        if flow.response or rule is None or rule.mirror is None:
            return
        endpoints = rule.mirror.picker.order()
        if endpoints:
            flow.metadata[flowkeys.MIRROR_TO] = endpoints[0]

    def request_complete(self, flow: http.HTTPFlow) -> None:
        ep = flow.metadata.get(flowkeys.MIRROR_TO)
        req = flow.request
        if ep is None or flow.response or req.stream:
            return
        name, _, port = (req.host_header or req.host).partition(":")
        headers = [(k, v) for k, v in req.headers.items(multi=True) if k.lower() not in HOP_BY_HOP]
        headers.append(("host", f"{name}-shadow{':' + port if port else ''}"))
        task = asyncio.ensure_future(self._send(ep, req.method, req.path, headers,
                                                req.raw_content or b""))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, ep, method, path, headers, body) -> None:
        import aiohttp  # only sidecars with a mirror rule pay for the import

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10),
                                                  auto_decompress=False)
        try:
            url = f"http://{ep.address}:{ep.port}{path}"
            async with self._session.request(method, url, headers=headers, data=body or None,
                                             allow_redirects=False, skip_auto_headers=("User-Agent",)) as r:
                await r.read()
            self.sent += 1
        except Exception:  # noqa: BLE001 - a mirror's failure is nobody's business
            pass
