"""Active health checks: probe the endpoints a DestinationPolicy's healthCheck covers.

Each endpoint is probed every `interval` (a TCP connect, or an HTTP/1.1 GET of the path, parsed
by h11), one probe at a time; after `unhealthy_threshold` failures in a row its key joins
state.unhealthy, which routing leaves out of load balancing (and locality failover moves on to
farther endpoints); `healthy_threshold` passes in a row bring it back. Endpoints start healthy,
and the probes follow the snapshot in force: endpoints that leave it are forgotten.
"""

from __future__ import annotations

import asyncio
import logging
import time

import h11

log = logging.getLogger("meshtool.sidecar")

TICK = 0.05  # how often due probes are looked for


async def probe(address: str, port: int, check, host: str) -> bool:
    """One probe; True when it passed within the check's timeout."""
    try:
        return await asyncio.wait_for(_probe(address, port, check, host), check.timeout)
    except (OSError, asyncio.TimeoutError, h11.ProtocolError):
        return False


async def _probe(address: str, port: int, check, host: str) -> bool:
    reader, writer = await asyncio.open_connection(address, port)
    try:
        if check.http_path is None:
            return True  # connected
        conn = h11.Connection(h11.CLIENT)
        writer.write(conn.send(h11.Request(method="GET", target=check.http_path, headers=[
            ("host", host), ("user-agent", "meshtool-health-check"), ("connection", "close")])))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                if check.expected_statuses:
                    return event.status_code in check.expected_statuses
                return 200 <= event.status_code < 400
            elif isinstance(event, h11.ConnectionClosed):
                return False
    finally:
        writer.close()


class HealthChecks:
    def __init__(self, state, prober=probe):
        self.state = state
        self.prober = prober
        self.due: dict[str, float] = {}  # endpoint key -> monotonic time of its next probe
        self.streak: dict[str, int] = {}  # + passes / - failures in a row
        self.probing: dict[str, asyncio.Task] = {}
        self.task: asyncio.Task | None = None

    def running(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._loop())

    def done(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for task in self.probing.values():
            task.cancel()

    async def _loop(self) -> None:
        while True:
            self.tick(time.monotonic())
            await asyncio.sleep(TICK)

    def tick(self, now: float) -> None:
        snap = self.state.snapshot
        checks = snap.health_checks if snap is not None else {}
        for key in [k for k in self.due if k not in checks]:  # left the snapshot
            self.due.pop(key, None)
            self.streak.pop(key, None)
            self.state.unhealthy.discard(key)
        for key, (check, ep) in checks.items():
            if self.due.setdefault(key, now) <= now and key not in self.probing:
                self.due[key] = now + check.interval
                task = asyncio.get_running_loop().create_task(self._run(key, check, ep))
                self.probing[key] = task

    async def _run(self, key: str, check, ep) -> None:
        try:
            passed = await self.prober(ep.address, ep.port, check, key)
        finally:
            self.probing.pop(key, None)
        if key not in self.due:
            return  # the endpoint left the snapshot while it was being probed
        self.record(key, check, passed)

    def record(self, key: str, check, passed: bool) -> None:
        streak = self.streak.get(key, 0)
        streak = max(streak, 0) + 1 if passed else min(streak, 0) - 1
        self.streak[key] = streak
        unhealthy = self.state.unhealthy
        if not passed and -streak >= check.unhealthy_threshold and key not in unhealthy:
            unhealthy.add(key)
            log.warning("health check: endpoint %s is unhealthy", key)
        elif passed and streak >= check.healthy_threshold and key in unhealthy:
            unhealthy.discard(key)
            log.info("health check: endpoint %s is healthy again", key)
