"""Authz: traffic permissions at the inbound sidecar, on the caller's verified identity.

The AccessPolicies that apply to this workload (compiled in the snapshot: meshtool.sidecar
.security) judge each inbound request by the peer's SPIFFE ID (meshtool.principal, set by
MutualTLS from the client certificate), method, path, port and headers. A denial is Istio's
403 `RBAC: access denied` with x-meshtool-denied-by naming the policy; AUDIT policies that match
are logged and counted (meshtool_permission_audited_total), never enforced. Sets
meshtool.forbidden for the metrics.
"""

from __future__ import annotations

import logging

from mitmproxy import http

from meshtool.sidecar.security import Request
from meshtool.sidecar import flowkeys

log = logging.getLogger("meshtool.sidecar")

DENIED_BY = "x-meshtool-denied-by"


class Authz:
    def __init__(self, state, app_port: int | None = None):
        self.state = state
        self.app_port = app_port

    def request(self, flow: http.HTTPFlow) -> None:
        md = flow.metadata
        if flow.response or md.get(flowkeys.DIRECTION) != "inbound":
            return
        snap = md.get(flowkeys.SNAPSHOT)
        table = snap.access if snap is not None else None
        if table is None:
            return
        principal = md.get(flowkeys.PRINCIPAL)
        req = flow.request
        verdict = table.decide(Request(principal, req.method, req.path, self.app_port,
                                       req.headers.get))
        source = principal or (flow.client_conn.peername[0] if flow.client_conn.peername
                               else "unknown")
        for name in verdict.audited:
            key = (name, source)
            self.state.audited[key] = self.state.audited.get(key, 0) + 1
            log.info("AUDIT %s: %s %s from %s", name, req.method, req.path, source)
        if verdict.allowed:
            return
        why = verdict.policy or "denied"
        if principal is None and table.identity_based:
            why += "; the request came without mTLS, so it has no identity to allow"
        md[flowkeys.FORBIDDEN] = why
        log.info("RBAC: denied %s %s from %s by %s", req.method, req.path, source, why)
        flow.response = http.Response.make(403, b"RBAC: access denied", {
            "content-type": "text/plain", DENIED_BY: why})
