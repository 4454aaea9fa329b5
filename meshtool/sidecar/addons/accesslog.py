"""Access log: one JSON line per request on stdout (off unless --access-log)."""

from __future__ import annotations

import json
import sys
import time

from mitmproxy import http

from meshtool.sidecar import flowkeys


class AccessLog:
    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout

    def response(self, flow: http.HTTPFlow) -> None:
        md = flow.metadata
        req, resp = flow.request, flow.response
        svc, subset, rule = md.get(flowkeys.SERVICE), md.get(flowkeys.SUBSET), md.get(
            flowkeys.RULE)
        entry = {
            "time": round(req.timestamp_start, 6),
            "direction": md.get(flowkeys.DIRECTION),
            "method": req.method,
            "authority": req.host_header or req.host,
            "path": req.path,
            "status": resp.status_code if resp is not None else 0,
            "duration_ms": round((time.time() - req.timestamp_start) * 1000, 3),
            "request_id": req.headers.get("x-request-id"),
            "service": svc.name if svc is not None else (md.get(flowkeys.EXTERNAL) or [None])[0],
            "version": subset.version if subset is not None else None,
            "rule": rule.name if rule is not None else None,
            "attempts": md.get(flowkeys.ATTEMPTS),
            "upstream": [k for k, _ in md.get(flowkeys.ATTEMPT_LOG, ())] or None,
            "flags": [f for f in (md.get(flowkeys.FAULT), md.get(flowkeys.OVERFLOW),
                                  "egress-denied" if md.get(flowkeys.DENIED) else None) if f],
        }
        self.stream.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self.stream.flush()

    def error(self, flow: http.HTTPFlow) -> None:
        self.response(flow)
