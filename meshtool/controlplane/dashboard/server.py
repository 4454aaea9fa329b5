"""The dashboard's HTTP server: static pages under /gui and their JSON under /gui/api/.

It reads a control plane over its HTTP API (HOST:PORT, or through the Kubernetes API server's
service proxy), so it runs inside `meshtool dashboard` beside any control plane. Read-only:
GET only, no cookies, no secrets. The pages poll the API and redraw in place.
"""

from __future__ import annotations

import asyncio
import json
import logging
from importlib import resources
from typing import Any

from aiohttp import web

from meshtool.controlplane.dashboard import views

log = logging.getLogger("meshtool.dashboard")

CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
                 ".svg": "image/svg+xml"}


class Dashboard:
    def __init__(self, control_plane: Any, version: str = "") -> None:
        self.control_plane = control_plane  # HOST:PORT or a ServiceProxy
        self.version = version
        self.runner: web.AppRunner | None = None
        self.url: str | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_headers])
        app.router.add_get("/", lambda _: web.HTTPFound("/gui/"))
        app.router.add_get("/gui", lambda _: web.HTTPFound("/gui/"))
        app.router.add_get("/gui/", self._index)
        app.router.add_get("/gui/static/{name}", self._static)
        app.router.add_get("/gui/api/{page}", self._api)
        return app

    async def start(self, host: str, port: int) -> str:
        self.runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, reuse_address=True)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound}/gui/"
        return self.url

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _index(self, request: web.Request) -> web.Response:
        return _asset("index.html")

    async def _static(self, request: web.Request) -> web.Response:
        return _asset(request.match_info["name"])

    async def _api(self, request: web.Request) -> web.Response:
        page = request.match_info["page"]
        if page not in PAGES:
            return web.json_response({"error": f"no page {page!r}"}, status=404)
        loop = asyncio.get_running_loop()
        try:
            body = await loop.run_in_executor(None, self.page, page)
        except Exception as exc:  # noqa: BLE001 - the control plane is away: say so on the page
            from meshtool.errors import MeshtoolError
            if not isinstance(exc, MeshtoolError):
                log.exception("dashboard page %s", page)
            return web.json_response({"error": str(exc)}, status=502)
        return web.Response(text=json.dumps(body, default=str), content_type="application/json")

    def page(self, page: str) -> Any:
        """One page's data, fetched from the control plane (blocking: run in a thread)."""
        from meshtool.controlplane.inspect import fetch_graph, fetch_rules, fetch_sync_table

        cp = self.control_plane
        need = PAGES[page]
        sync = fetch_sync_table(cp) if "sync" in need else {}
        graph = fetch_graph(cp) if "graph" in need else {}
        rules = fetch_rules(cp) if "rules" in need else {}
        if page == "overview":
            return views.overview(sync, graph, rules, self.version)
        if page == "proxies":
            return views.proxies(sync)
        if page == "services":
            return views.services(sync, graph)
        if page == "policies":
            return views.policies(rules)
        if page == "graph":
            return graph
        return views.splits(rules, graph)


PAGES = {"overview": ("sync", "graph", "rules"), "proxies": ("sync",),
         "services": ("sync", "graph"), "policies": ("rules",), "graph": ("graph",),
         "splits": ("rules", "graph")}


def _asset(name: str) -> web.Response:
    suffix = name[name.rfind("."):] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in CONTENT_TYPES:
        raise web.HTTPNotFound()
    try:
        data = resources.files("meshtool.controlplane.dashboard").joinpath(
            "static", name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise web.HTTPNotFound() from None
    return web.Response(body=data, content_type=CONTENT_TYPES[suffix])


@web.middleware
async def _headers(request: web.Request, handler):
    if request.method not in ("GET", "HEAD"):
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
    resp = await handler(request)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self'"
    return resp
