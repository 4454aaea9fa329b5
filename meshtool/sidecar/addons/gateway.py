"""Gateway routing: which mesh Service a request entering the mesh is for.

Runs first in a gateway's pipeline. It finds the GatewayRoute for the request's host and path
(the snapshot's gateway table), answers 404 when there is none, redirects plain HTTP to https
when the route asks, rewrites the path (strip-path) and leaves the chosen Service in
meshtool.service; the sidecar's own routing then applies that Service's RouteRules (weights,
header matches, retries) exactly as for a call from inside the mesh.

flow.metadata: meshtool.gateway_route (the CompiledGatewayRoute), meshtool.service.
"""

from __future__ import annotations

from mitmproxy import http

from meshtool.sidecar import flowkeys


def _host(authority: str) -> str:
    if authority.startswith("["):
        return authority[1:authority.find("]")]
    host = authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority
    return host.lower().rstrip(".")


class GatewayRouting:
    def __init__(self, state, https_port: int | None = None):
        self.state = state
        self.https_port = https_port

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response:
            return
        snap = self.state.snapshot
        if snap is None:
            return  # routing answers 503: no configuration yet
        req = flow.request
        authority = req.host_header or ""
        host = _host(authority)
        path, sep, query = req.path.partition("?")
        route = snap.gateway.find(host, path) if snap.gateway is not None else None
        if route is None:
            flow.response = http.Response.make(
                404, f"no route: this meshtool gateway has no route for host {host or '(none)'!r} "
                     f"and path {path!r}\n".encode(),
                {"content-type": "text/plain; charset=utf-8", "x-meshtool-error": "no route"})
            return
        flow.metadata[flowkeys.GATEWAY_ROUTE] = route
        secure = flow.client_conn.tls_established
        if route.route.https_redirect and not secure:
            port = "" if self.https_port in (None, 443) else f":{self.https_port}"
            flow.response = http.Response.make(
                301 if req.method in ("GET", "HEAD") else 308, b"",
                {"location": f"https://{host}{port}{req.path}"})
            return
        key, backend = route.backends.pick()
        svc = snap.services.get(key)
        if svc is None:  # the control plane leaves such a route out; a file snapshot may not
            flow.response = http.Response.make(
                503, f"no healthy upstream: Service {key[1]}.{key[0]} is not in the mesh\n"
                     .encode(), {"x-meshtool-error": "no service"})
            return
        new_path = route.rewrite(path)
        if new_path != path:
            req.headers["x-forwarded-prefix"] = route.route.path.value.rstrip("/") or "/"
            req.path = new_path + sep + query
        req.headers["x-forwarded-host"] = authority
        req.headers["x-forwarded-proto"] = "https" if secure else "http"
        flow.metadata[flowkeys.SERVICE] = svc
        if backend.port is not None:  # the port a "port" match of the Service's rules sees
            flow.metadata[flowkeys.SERVICE_PORT] = backend.port
