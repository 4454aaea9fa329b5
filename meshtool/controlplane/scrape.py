"""Scraping the connected sidecars' metrics into the service graph, only while someone looks.

A request for the graph scrapes at once when the last scrape is older than half a second, and keeps
a background loop scraping every `interval` seconds for `linger` seconds after the last request,
so the window fills with history while a dashboard is open and costs nothing otherwise. Only
sidecars that registered an admin address are scraped (the local mesh; on Kubernetes the admin
port is loopback-only in each pod, and Prometheus scrapes it there: docs/observability.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Iterable

from meshtool.controlplane.graph import ServiceGraph, parse

log = logging.getLogger("meshtool.controlplane")

METRICS_PATH = "/stats/prometheus"


class Scraper:
    def __init__(self, targets: Callable[[], Iterable[tuple[str, str, float]]],
                 graph: ServiceGraph | None = None, interval: float = 2.0,
                 linger: float = 300.0, timeout: float = 2.0) -> None:
        self.targets = targets  # -> (proxy id, admin HOST:PORT, connected since)
        self.graph = graph or ServiceGraph()
        self.interval, self.linger, self.timeout = interval, linger, timeout
        self.last_scrape = 0.0
        self.last_wanted = 0.0
        self._loop_task: asyncio.Task | None = None
        self._session = None

    async def graph_now(self) -> dict:
        """The graph, from scrapes at most half a second old; keeps scraping for a while after."""
        self.last_wanted = time.monotonic()
        if time.monotonic() - self.last_scrape > 0.5:
            await self.scrape_once()
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.ensure_future(self._keep_scraping())
        return self.graph.snapshot()

    async def scrape_once(self) -> None:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        targets = list(self.targets())
        known = {pid for pid, _, _ in targets}
        for gone in set(self.graph.history) - known:
            self.graph.forget(gone)
        self.last_scrape = time.monotonic()
        await asyncio.gather(*(self._one(pid, addr, since) for pid, addr, since in targets))

    async def _one(self, proxy: str, address: str, since: float) -> None:
        import aiohttp

        try:
            async with self._session.get(f"http://{address}{METRICS_PATH}") as resp:
                text = await resp.text() if resp.status == 200 else None
        except (OSError, asyncio.TimeoutError, aiohttp.ClientError) as exc:  # a proxy gone
            log.debug("scrape %s at %s failed: %s", proxy, address, exc)
            return
        if text is None:
            return
        try:
            self.graph.record(proxy, parse(text, time.time()), connected_since=since)
        except ValueError as exc:
            log.warning("proxy %s: metrics do not parse: %s", proxy, exc)

    async def _keep_scraping(self) -> None:
        while time.monotonic() - self.last_wanted < self.linger:
            await asyncio.sleep(self.interval)
            await self.scrape_once()

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
        if self._session is not None:
            await self._session.close()
