"""Mirror: a fire-and-forget copy of each request to the rule's mirror subset.

The copy's Host gets a "-shadow" suffix so the mirror can tell it apart; its reply is dropped
and its failure never touches the real request.
"""

from __future__ import annotations

import asyncio

from mitmproxy import http

from meshtool.sidecar.upstream import Upstream


class Mirror:
    def __init__(self, client: Upstream | None = None):
        self.client = client or Upstream()
        self.tasks: set[asyncio.Task] = set()
        self.sent = 0

    def request(self, flow: http.HTTPFlow) -> None:
        rule = flow.metadata.get("meshtool.rule")
        if flow.response or rule is None or rule.mirror is None:
            return
        endpoints = rule.mirror.picker.order()
        if not endpoints:
            return
        req = flow.request
        host = req.host_header or req.host
        name, _, port = host.partition(":")
        headers = [(k, v) for k, v in req.headers.fields if k.lower() != b"host"]
        headers.append((b"host", f"{name}-shadow{':' + port if port else ''}".encode()))
        task = asyncio.ensure_future(self._send(endpoints[0], req.method, req.path, headers,
                                                req.raw_content or b""))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, ep, method, path, headers, body) -> None:
        try:
            await self.client.request(ep.address, ep.port, method, path, headers, body, timeout=10)
            self.sent += 1
        except Exception:  # noqa: BLE001 - a mirror's failure is nobody's business
            pass
