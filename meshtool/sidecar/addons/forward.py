"""Forward with timeout and retries: the upstream exchange itself, per httpReqTimeout/httpReqRetries.

Tries the endpoints in meshtool.endpoints order (moving on to the next one on each retry), or
meshtool.upstream for an allowed external host, or the app for inbound requests. Retries on
connect failure, reset, per-try timeout and 5xx, within the rule's total timeout. Leaves
meshtool.attempts and meshtool.attempt_log ([(endpoint key, status or None)]) and puts
x-meshtool-attempts on the response.
"""

from __future__ import annotations

import asyncio
import time

from mitmproxy import http

from meshtool.sidecar.upstream import Upstream, UpstreamError


class Forward:
    def __init__(self, state, client: Upstream | None = None, transparent_inbound: bool = False):
        self.state = state
        self.client = client or Upstream()
        self.transparent_inbound = transparent_inbound

    def _targets(self, flow: http.HTTPFlow) -> list[tuple[str, int, bool, str | None]]:
        md = flow.metadata
        if eps := md.get("meshtool.endpoints"):
            return [(e.address, e.port, False, e.key) for e in eps]
        if up := md.get("meshtool.upstream"):
            return [(up[0], up[1], bool(md.get("meshtool.tls")), None)]
        req = flow.request
        host = "127.0.0.1" if self.transparent_inbound else req.host
        return [(host, req.port, req.scheme == "https", None)]

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response:
            return
        targets = self._targets(flow)
        req = flow.request
        if req.headers.get("upgrade", "").lower() == "websocket":
            req.host, req.port = targets[0][0], targets[0][1]  # mitmproxy relays WebSockets itself
            return
        rule = flow.metadata.get("meshtool.rule")
        retries, per_try = (rule.retry if rule is not None and rule.retry else (0, None))
        timeout = rule.timeout if rule is not None else None
        deadline = time.monotonic() + timeout if timeout else None
        active, log = self.state.active, []
        reply, error = None, ""
        headers = req.headers.fields
        server_name = (req.host_header or "").rsplit(":", 1)[0] or None
        for i in range(retries + 1):
            host, port, tls, key = targets[i % len(targets)]
            limit = per_try
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                limit = min(limit, left) if limit else left
            if key:
                active[key] = active.get(key, 0) + 1
            try:
                reply = await self.client.request(host, port, req.method, req.path, headers,
                                                  req.raw_content or b"", tls=tls,
                                                  server_name=server_name, timeout=limit)
                log.append((key, reply.status))
                if reply.status < 500:
                    break
            except asyncio.TimeoutError:
                log.append((key, None))
                error, reply = "upstream request timeout", None
            except UpstreamError as exc:
                log.append((key, None))
                error, reply = f"upstream connect error or disconnect/reset: {exc}", None
            finally:
                if key:
                    active[key] -= 1
        flow.metadata["meshtool.attempts"] = len(log)
        flow.metadata["meshtool.attempt_log"] = log
        attempts = (b"x-meshtool-attempts", str(len(log)).encode())
        if reply is not None:
            reply.headers.append(attempts)
            flow.response = http.Response(b"HTTP/1.1", reply.status, reply.reason,
                                          http.Headers(reply.headers), reply.body, None,
                                          req.timestamp_start, time.time())
        else:
            status = 504 if error == "upstream request timeout" or not log else 503
            flow.response = http.Response.make(status, f"{error or 'timeout'}\n".encode(), [
                (b"x-meshtool-error", (error or "timeout").encode()), attempts])
