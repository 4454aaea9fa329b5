"""Trace headers: an x-request-id for every request, and B3 and W3C trace context carried on.

A request without a trace gets a new one; a request with one gets a new span whose parent is
the caller's span, in both header families, so tracers of either kind can join the spans.
The headers are read in one pass and written in one assignment: mitmproxy rebuilds the whole
header tuple on every single-header change. Sets meshtool.request_id.
"""

from __future__ import annotations

import os
import uuid

from mitmproxy import http

OURS = {b"x-request-id", b"x-b3-traceid", b"x-b3-spanid", b"x-b3-parentspanid", b"x-b3-sampled",
        b"traceparent", b"x-meshtool-source"}


class Trace:
    def __init__(self, source: str = ""):
        self.source = source.encode()

    def request(self, flow: http.HTTPFlow) -> None:
        h = flow.request.headers
        seen: dict[bytes, bytes] = {}
        rest = []
        for name, value in h.fields:
            low = name.lower()
            if low in OURS:
                seen.setdefault(low, value)
            else:
                rest.append((name, value))
        rid = seen.get(b"x-request-id") or str(uuid.uuid4()).encode()
        trace_id, parent = seen.get(b"x-b3-traceid"), seen.get(b"x-b3-spanid")
        sampled = seen.get(b"x-b3-sampled")
        tp = seen.get(b"traceparent", b"").split(b"-")
        if len(tp) == 4 and len(tp[1]) == 32:
            trace_id, parent = trace_id or tp[1], parent or tp[2]
            flags = tp[3]
        else:
            flags = b"00" if sampled == b"0" else b"01"
        trace_id = trace_id or os.urandom(16).hex().encode()
        span = os.urandom(8).hex().encode()
        rest += [(b"x-request-id", rid), (b"x-b3-traceid", trace_id), (b"x-b3-spanid", span),
                 (b"x-b3-sampled", sampled or (b"0" if flags == b"00" else b"1")),
                 (b"traceparent", b"00-" + trace_id.rjust(32, b"0") + b"-" + span + b"-" + flags)]
        if parent:
            rest.append((b"x-b3-parentspanid", parent))
        if self.source and flow.metadata.get("meshtool.direction") != "inbound":
            rest.append((b"x-meshtool-source", self.source))  # the callee's sidecar labels by it
        elif b"x-meshtool-source" in seen:
            rest.append((b"x-meshtool-source", seen[b"x-meshtool-source"]))
        h.fields = tuple(rest)
        flow.metadata["meshtool.request_id"] = rid

    def response(self, flow: http.HTTPFlow) -> None:
        rid = flow.metadata.get("meshtool.request_id")
        resp = flow.response
        if rid is None or resp is None:
            return
        if not any(name.lower() == b"x-request-id" for name, _ in resp.headers.fields):
            resp.headers.fields = resp.headers.fields + ((b"x-request-id", rid),)
