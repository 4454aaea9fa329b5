"""Routing: which service a request is for, which RouteRule applies, which subset and endpoints.

Outbound only; inbound requests go to the app. Facts left in flow.metadata for later addons:
meshtool.snapshot (pinned for the whole request), meshtool.direction, meshtool.service,
meshtool.rule, meshtool.subset, meshtool.endpoints (the load-balancing choice first),
meshtool.external ((host, port) when the destination is not a mesh service).
"""

from __future__ import annotations

from mitmproxy import http

from meshtool.model.types import QUERY
from meshtool.sidecar import flowkeys


def _split_host(authority: str) -> str:
    if authority.startswith("["):
        return authority[1:authority.find("]")]
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


class Routing:
    def __init__(self, state, inbound_port: int | None = None):
        self.state = state
        self.inbound_port = inbound_port

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response:
            return
        md = flow.metadata
        snap = self.state.snapshot
        if snap is None:
            flow.response = http.Response.make(503, b"no configuration yet\n",
                                               {"x-meshtool-error": "no snapshot"})
            return
        md[flowkeys.SNAPSHOT] = snap
        mode = flow.client_conn.proxy_mode
        if self.inbound_port is not None and mode.listen_port() == self.inbound_port:
            md[flowkeys.DIRECTION] = "inbound"
            return
        md[flowkeys.DIRECTION] = "outbound"
        req = flow.request
        authority = req.host_header or ""
        name = _split_host(authority).lower().rstrip(".") if authority else req.host
        svc = (md.get(flowkeys.SERVICE)  # chosen by a gateway's route
               or snap.by_host.get(name) or snap.by_host.get(f"{req.host}:{req.port}")
               or snap.by_host.get(req.host))
        if svc is None:
            md[flowkeys.EXTERNAL] = (name or req.host, req.port)
            return
        md[flowkeys.SERVICE] = svc
        rule = self._choose(snap.rules.get((svc.namespace, svc.name), ()), req,
                            md.get(flowkeys.SERVICE_PORT))
        if rule is not None:
            md[flowkeys.RULE] = rule
            if rule.redirect:
                self._redirect(flow, rule.redirect, rule.redirect_code)
                return
            if rule.rewrite:
                self._rewrite(req, rule)
            for k, v in rule.append_headers.items():
                req.headers.add(k, v)
            if rule.request_headers is not None:
                _change(req.headers, rule.request_headers)
            subset = rule.split.pick() if rule.split.items else None
        else:
            subset = snap.default_subsets[(svc.namespace, svc.name)]
        if subset is None:
            flow.response = http.Response.make(503, b"no route: every weight is 0\n",
                                               {"x-meshtool-error": "no route"})
            return
        md[flowkeys.SUBSET] = subset
        endpoints = subset.picker.order()
        unhealthy = getattr(self.state, "unhealthy", None)  # simulate and tests pass a bare state
        if unhealthy:  # failing active health checks: out, unless none is left (Envoy's panic)
            endpoints = [e for e in endpoints if e.key not in unhealthy] or endpoints
        if not endpoints:
            flow.response = http.Response.make(
                503, f"no healthy upstream: {svc.name} has no endpoint with labels "
                     f"{subset.labels}\n".encode(), {"x-meshtool-error": "no endpoints"})
            return
        md[flowkeys.ENDPOINTS] = endpoints

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """The route's response header changes, before the headers go out (a streamed body
        follows them at once)."""
        rule = flow.metadata.get(flowkeys.RULE)
        if rule is None or rule.response_headers is None or flow.response is None \
                or flow.metadata.get(flowkeys.RESPONSE_HEADERS_DONE):
            return
        flow.metadata[flowkeys.RESPONSE_HEADERS_DONE] = True
        _change(flow.response.headers, rule.response_headers)

    def response(self, flow: http.HTTPFlow) -> None:
        self.responseheaders(flow)  # a response made by the sidecar has no responseheaders event

    @staticmethod
    def _choose(rules, req: http.Request, port: int | None = None):
        """The first rule whose matchers all hold. `port`: the Service port called when it is
        not the request's own (behind a gateway, the port its route's backend names)."""
        for rule in rules:  # best precedence first
            for m in rule.matchers:
                if m.name == "uri":  # the path without its query string, as Envoy matches
                    text = req.path.partition("?")[0]
                elif m.name == "method":
                    text = req.method
                elif m.name == "scheme":
                    text = req.scheme
                elif m.name == "authority":
                    text = req.host_header or req.host
                elif m.name == "port":  # the Service port: the URL's, or the original destination's
                    text = str(port or req.port)
                elif m.name[0] == QUERY:  # a query parameter, by its first value
                    text = req.query.get(m.name[1:])
                else:
                    text = req.headers.get(m.name)
                if not m.test(text):
                    break
            else:
                return rule
        return None

    @staticmethod
    def _redirect(flow: http.HTTPFlow, redirect: dict, code: int) -> None:
        req = flow.request
        location = (f"{req.scheme}://{redirect.get('authority') or req.host_header or req.host}"
                    f"{redirect.get('uri') or req.path}")
        flow.response = http.Response.make(code, b"", {"location": location})

    @staticmethod
    def _rewrite(req: http.Request, rule) -> None:
        uri = rule.rewrite.get("uri")
        if uri is not None:
            prefix = next((m.value for m in rule.matchers if m.name == "uri" and m.kind == "prefix"),
                          None)
            if prefix:
                req.path = uri + req.path[len(prefix):]
            else:  # the whole path replaced; the query string stays
                path, sep, query = req.path.partition("?")
                req.path = uri + sep + query
        if authority := rule.rewrite.get("authority"):
            req.host_header = authority


def _change(headers: http.Headers, ops) -> None:
    """HeaderOps on mitmproxy headers: remove, then set (replacing), then add (appending)."""
    for name in ops.remove:
        headers.pop(name, None)
    for name, value in ops.set.items():
        headers[name] = value
    for name, value in ops.add.items():
        headers.add(name, value)
