"""Trace headers and spans: x-request-id, B3 and W3C trace context, the peer exchange.

A request without a trace gets a new one; a request with one gets a new span whose parent is
the caller's span, in both header families, so tracers of either kind can join the spans.
With a span recorder (meshtool.sidecar.tracing, when tracing is configured) each sampled
request also records a span: SERVER for inbound, CLIENT for outbound, with the parent's
sampling decision honoured. The headers are read in one pass and written in one assignment:
mitmproxy rebuilds the whole header tuple on every single-header change.

Also carries the peer metadata of meshtool.sidecar.peer: x-meshtool-source on outbound
requests, x-meshtool-peer on inbound responses. Sets meshtool.request_id, meshtool.source
(inbound: the raw source header), meshtool.peer (outbound: the raw peer header) and
meshtool.span (the span being recorded, if any).
"""

from __future__ import annotations

from random import getrandbits

from mitmproxy import http

from meshtool.sidecar.peer import PEER_HEADER, SOURCE_HEADER
from meshtool.sidecar.speedups import random_uuid
from meshtool.sidecar import flowkeys

OURS = {b"x-request-id", b"x-b3-traceid", b"x-b3-spanid", b"x-b3-parentspanid", b"x-b3-sampled",
        b"traceparent", SOURCE_HEADER}


class Trace:
    def __init__(self, source: bytes | str = b"", peer: bytes = b"", recorder=None):
        self.source = source.encode() if isinstance(source, str) else source
        self.peer = peer
        self.recorder = recorder  # None: headers only, nothing recorded

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
        md = flow.metadata
        inbound = md.get(flowkeys.DIRECTION) == "inbound"
        rid = seen.get(b"x-request-id") or random_uuid().encode()
        trace_id, parent = seen.get(b"x-b3-traceid"), seen.get(b"x-b3-spanid")
        sampled = seen.get(b"x-b3-sampled")
        tp = seen.get(b"traceparent", b"").split(b"-")
        if len(tp) == 4 and len(tp[1]) == 32:
            trace_id, parent = trace_id or tp[1], parent or tp[2]
            if sampled is None:
                sampled = b"1" if tp[3] == b"01" else b"0"
        if self.recorder is not None:
            span, trace_id, span_id, sampled = self.recorder.start(flow, inbound, trace_id,
                                                                   parent, sampled)
            if span is not None:
                md[flowkeys.SPAN] = span
        else:
            trace_id = trace_id or b"%032x" % (getrandbits(128) or 1)
            span_id = b"%016x" % (getrandbits(64) or 1)
            sampled = b"0" if sampled == b"0" else b"1"
        rest += [(b"x-request-id", rid), (b"x-b3-traceid", trace_id), (b"x-b3-spanid", span_id),
                 (b"x-b3-sampled", sampled),
                 (b"traceparent", b"00-" + trace_id.rjust(32, b"0") + b"-" + span_id
                  + (b"-01" if sampled == b"1" else b"-00"))]
        if parent:
            rest.append((b"x-b3-parentspanid", parent))
        if inbound:
            if source := seen.get(SOURCE_HEADER):
                rest.append((SOURCE_HEADER, source))
                md[flowkeys.SOURCE] = source
        elif self.source:
            rest.append((SOURCE_HEADER, self.source))  # the callee's sidecar labels by it
        h.fields = tuple(rest)
        md[flowkeys.REQUEST_ID] = rid

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Before the response headers go out (a streamed body follows them at once)."""
        md = flow.metadata
        rid = md.get(flowkeys.REQUEST_ID)
        resp = flow.response
        if rid is None or resp is None or md.get(flowkeys.TRACE_HEADERS_DONE):
            return
        md[flowkeys.TRACE_HEADERS_DONE] = True
        fields = resp.headers.fields
        has_rid, peer, kept = False, None, []
        for name, value in fields:
            low = name.lower()
            if low == PEER_HEADER:
                peer = value
                continue
            has_rid = has_rid or low == b"x-request-id"
            kept.append((name, value))
        if md.get(flowkeys.DIRECTION) == "inbound":
            if self.peer:
                kept.append((PEER_HEADER, self.peer))  # the caller's sidecar labels by it
        elif peer is not None:
            md[flowkeys.PEER] = peer  # for our metrics only: not passed to the app
        if not has_rid:
            kept.append((b"x-request-id", rid))
        if len(kept) != len(fields) or peer is not None:
            resp.headers.fields = tuple(kept)

    def response(self, flow: http.HTTPFlow) -> None:
        self.responseheaders(flow)  # a response made here (no responseheaders event) gets them too
        if (span := flow.metadata.pop(flowkeys.SPAN, None)) is not None:
            self.recorder.end(span, flow)

    def error(self, flow: http.HTTPFlow) -> None:
        if (span := flow.metadata.pop(flowkeys.SPAN, None)) is not None:
            self.recorder.end(span, flow)  # a response may still come: the span ends once
