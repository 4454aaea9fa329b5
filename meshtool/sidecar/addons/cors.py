"""CORS: answers preflight requests and adds the allow headers, per the rule's corsPolicy."""

from __future__ import annotations

from mitmproxy import http


def _join(value) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


class Cors:
    @staticmethod
    def _policy(flow: http.HTTPFlow):
        rule = flow.metadata.get("meshtool.rule")
        return rule.cors if rule is not None else None

    @staticmethod
    def _allowed(policy: dict, origin: str) -> bool:
        allowed = policy.get("allowOrigin") or []
        return "*" in allowed or origin in allowed

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
            for field, header in (("allowMethods", "access-control-allow-methods"),
                                  ("allowHeaders", "access-control-allow-headers"),
                                  ("maxAge", "access-control-max-age")):
                if policy.get(field):
                    headers[header] = _join(policy[field])
            if policy.get("allowCredentials"):
                headers["access-control-allow-credentials"] = "true"
        flow.response = http.Response.make(200, b"", headers)
        flow.metadata["meshtool.cors"] = "preflight"

    def response(self, flow: http.HTTPFlow) -> None:
        policy = self._policy(flow)
        if not policy:
            return
        origin = flow.request.headers.get("origin")
        if (not origin or flow.response is None
                or flow.metadata.get("meshtool.cors") or not self._allowed(policy, origin)):
            return
        h = flow.response.headers
        h["access-control-allow-origin"] = origin
        if policy.get("exposeHeaders"):
            h["access-control-expose-headers"] = _join(policy["exposeHeaders"])
        if policy.get("allowCredentials"):
            h["access-control-allow-credentials"] = "true"
