"""Fault injection: httpFault delay and abort at exact rates (25% is 25 of every 100 requests).

Reads meshtool.rule; sets meshtool.fault ("delay", "abort" or both) for the logs and metrics.
"""

from __future__ import annotations

import asyncio

from mitmproxy import http

from meshtool.sidecar import flowkeys


class Fault:
    def request(self, flow: http.HTTPFlow):
        """None, or a coroutine to await when a delay fires (most requests never wait)."""
        rule = flow.metadata.get(flowkeys.RULE)
        if flow.response or rule is None or (rule.delay is None and rule.abort is None):
            return None
        if rule.delay is not None and rule.delay.rate.fire():
            return self._delayed(flow, rule)
        self._abort(flow, rule, [])
        return None

    async def _delayed(self, flow: http.HTTPFlow, rule) -> None:
        await asyncio.sleep(rule.delay.seconds)
        self._abort(flow, rule, ["delay"])

    @staticmethod
    def _abort(flow: http.HTTPFlow, rule, faults: list[str]) -> None:
        if rule.abort is not None and rule.abort.rate.fire():
            faults.append("abort")
            flow.response = http.Response.make(rule.abort.status, b"fault filter abort\n",
                                               {"x-meshtool-fault": "abort"})
        if faults:
            flow.metadata[flowkeys.FAULT] = "+".join(faults)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Before the headers go out (a streamed body follows them at once)."""
        if (fault := flow.metadata.get(flowkeys.FAULT)) and flow.response is not None:
            flow.response.headers["x-meshtool-fault"] = fault

    def response(self, flow: http.HTTPFlow) -> None:
        self.responseheaders(flow)  # a response made here has no responseheaders event
