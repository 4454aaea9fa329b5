"""Trace headers: an x-request-id for every request, and B3 and W3C trace context carried on.

A request without a trace gets a new one; a request with one gets a new span whose parent is
the caller's span, in both header families, so tracers of either kind can join the spans.
"""

from __future__ import annotations

import os
import uuid

from mitmproxy import http


class Trace:
    def __init__(self, source: str = ""):
        self.source = source

    def request(self, flow: http.HTTPFlow) -> None:
        h = flow.request.headers
        if "x-request-id" not in h:
            h["x-request-id"] = str(uuid.uuid4())
        span = os.urandom(8).hex()
        trace_id = h.get("x-b3-traceid")
        parent = h.get("x-b3-spanid")
        tp = h.get("traceparent", "").split("-")
        if len(tp) == 4 and len(tp[1]) == 32:
            trace_id = trace_id or tp[1]
            parent = parent or tp[2]
            flags = tp[3]
        else:
            flags = "00" if h.get("x-b3-sampled") == "0" else "01"
        trace_id = trace_id or os.urandom(16).hex()
        h["x-b3-traceid"] = trace_id
        h["x-b3-spanid"] = span
        if parent:
            h["x-b3-parentspanid"] = parent
        h.setdefault("x-b3-sampled", "0" if flags == "00" else "1")
        h["traceparent"] = f"00-{trace_id.rjust(32, '0')}-{span}-{flags}"
        if self.source and flow.metadata.get("meshtool.direction") != "inbound":
            h["x-meshtool-source"] = self.source  # lets the callee's sidecar label its metrics

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None and (rid := flow.request.headers.get("x-request-id")):
            flow.response.headers.setdefault("x-request-id", rid)
