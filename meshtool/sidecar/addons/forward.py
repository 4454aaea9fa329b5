"""Forward: where the request goes and how hard to try, decided on the request headers.

Sets meshtool.targets ([(host, port, tls, endpoint key)]: the endpoints in meshtool.endpoints
order, or meshtool.upstream for an allowed external host, or the app for inbound requests),
meshtool.retry (the route's model Retry, from httpReqRetries) and meshtool.deadline (from
httpReqTimeout). The exchange itself is mitmproxy's, with retries and timeouts added by
meshtool.sidecar.stream. Bodies stream both ways, except a request body that may have to be
replayed: mitmproxy keeps it up to `stream_large_bodies` (the retry buffer) and streams a larger
one, which is then sent once.

The upstream speaks HTTP/2 (h2c on plaintext) when the service port the caller addressed says
so (`grpc`, `http2`: a port name prefix or appProtocol, see docs/snapshot.md), or for gRPC
calls that arrived over HTTP/2; otherwise HTTP/1.1.
"""

from __future__ import annotations

import logging
import time

from mitmproxy import http

from meshtool.sidecar import flowkeys

log = logging.getLogger("meshtool.sidecar")


class Forward:
    def __init__(self, state, client=None, transparent_inbound: bool = False):
        self.state = state
        self._warned = False
        self.transparent_inbound = transparent_inbound

    def _targets(self, flow: http.HTTPFlow) -> list[tuple[str, int, bool, str | None]]:
        md = flow.metadata
        if eps := md.get(flowkeys.ENDPOINTS):
            subset = md.get(flowkeys.SUBSET)
            mode = subset.tls if subset is not None else None
            certs = self.state.certs
            if certs is None or certs.contexts is None:
                if mode == "ISTIO_MUTUAL" and not self._warned:
                    self._warned = True  # no CA in this mesh: mTLS is off, say so once
                    log.warning("%s asks for ISTIO_MUTUAL, but this sidecar has no workload "
                                "certificate (the control plane runs no CA): plaintext",
                                subset.breaker_key)
                return [(e.address, e.port, False, e.key) for e in eps]
            if mode == "DISABLE":
                return [(e.address, e.port, False, e.key) for e in eps]
            # auto mTLS to every endpoint whose sidecar has an identity; ISTIO_MUTUAL: to all
            out = []
            for e in eps:
                tls = e.identity is not None or mode == "ISTIO_MUTUAL"
                if tls:
                    self.state.mesh_peers[(e.address, e.port)] = e.identity or ""
                out.append((e.address, e.port, tls, e.key))
            md[flowkeys.MTLS] = out[0][2]
            return out
        if up := md.get(flowkeys.UPSTREAM):
            return [(up[0], up[1], bool(md.get(flowkeys.TLS)), None)]
        req = flow.request
        if self.transparent_inbound and md.get(flowkeys.DIRECTION) == "inbound":
            # to the app on this pod's loopback, in plaintext: an https scheme here is the
            # caller's mTLS, which this sidecar terminated
            return [("127.0.0.1", req.port, False, None)]
        host = "127.0.0.1" if self.transparent_inbound else req.host
        return [(host, req.port, req.scheme == "https", None)]

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response:
            return
        md = flow.metadata
        targets = md[flowkeys.TARGETS] = self._targets(flow)
        md[flowkeys.ACTIVE] = self.state.active
        req = flow.request
        svc = md.get(flowkeys.SERVICE)
        if ((svc is not None and svc.upstream_http2(req.port))  # the port says grpc/http2
                or (req.is_http2 and req.headers.get("content-type", "").startswith(
                    "application/grpc"))):  # gRPC needs HTTP/2 end to end
            # these endpoints get HTTP/2 (h2c with prior knowledge on plaintext)
            self.state.h2_upstreams.update((t[0], t[1]) for t in targets if not t[2])
        req.data.host, req.data.port = targets[0][0], targets[0][1]  # the Host header stays
        if targets[0][2]:
            req.data.scheme = b"https"
        rule = md.get(flowkeys.RULE)
        retry = rule.retry if rule is not None else None
        if retry is not None and retry.attempts:
            md[flowkeys.RETRY] = retry
        if rule is not None and rule.timeout:
            md[flowkeys.DEADLINE] = time.monotonic() + rule.timeout
        if not md.get(flowkeys.RETRY) and (rule is None or rule.mirror is None):
            req.stream = True  # nothing will replay or copy the body: let it flow

    def server_connect(self, data) -> None:
        server = data.server
        if not server.tls and server.address and tuple(server.address[:2]) in self.state.h2_upstreams:
            server.alpn = b"h2"  # mitmproxy then speaks HTTP/2 on the plaintext connection

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:
            flow.response.stream = True  # never hold a response body
