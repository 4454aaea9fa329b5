"""CORS: answers preflight requests and adds the allow headers, per the rule's corsPolicy."""

from __future__ import annotations

from mitmproxy import http

from meshtool.model.types import Cors
from meshtool.sidecar import flowkeys


class Cors:
    @staticmethod
    def _policy(flow: http.HTTPFlow):
        rule = flow.metadata.get(flowkeys.RULE)
        return rule.cors if rule is not None else None

    @staticmethod
    def _allowed(policy: Cors, origin: str) -> bool:
        return "*" in policy.allow_origin or origin in policy.allow_origin

    def request(self, flow: http.HTTPFlow) -> None:
        policy = self._policy(flow)
        req = flow.request
        if (flow.response or not policy or req.method != "OPTIONS"
                or "access-control-request-method" not in req.headers):
            return
        headers = {}
        origin = req.headers.get("origin", "")
        if self._allowed(policy, origin):
            headers["access-control-allow-origin"] = origin
            if policy.allow_methods:
                headers["access-control-allow-methods"] = ",".join(policy.allow_methods)
            if policy.allow_headers:
                headers["access-control-allow-headers"] = ",".join(policy.allow_headers)
            if policy.max_age is not None:  # whole seconds, as the header is defined
                headers["access-control-max-age"] = str(int(policy.max_age))
            if policy.allow_credentials:
                headers["access-control-allow-credentials"] = "true"
        flow.response = http.Response.make(200, b"", headers)
        flow.metadata[flowkeys.CORS] = "preflight"

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Before the headers go out: a streamed body follows them at once, so a header set in
        `response` would never reach the client."""
        policy = self._policy(flow)
        if not policy:
            return
        origin = flow.request.headers.get("origin")
        if (not origin or flow.response is None
                or flow.metadata.get(flowkeys.CORS) or not self._allowed(policy, origin)):
            return
        flow.metadata[flowkeys.CORS] = "allowed"
        h = flow.response.headers
        h["access-control-allow-origin"] = origin
        if policy.expose_headers:
            h["access-control-expose-headers"] = ",".join(policy.expose_headers)
        if policy.allow_credentials:
            h["access-control-allow-credentials"] = "true"

    def response(self, flow: http.HTTPFlow) -> None:
        self.responseheaders(flow)  # a response made by the sidecar has no responseheaders event
