"""Circuit breaker: DestinationPolicy simpleCb limits and outlier ejection.

Limits are per policy: requests in flight beyond maxConnections/httpMaxRequests wait while
fewer than httpMaxPendingRequests are waiting, else get a 503 with x-meshtool-overflow naming
the limit. An endpoint with httpConsecutiveErrors consecutive failures (5xx, connect error,
timeout) is ejected for sleepWindow, at most httpMaxEjectionPercent of the subset (at least one).
Reads meshtool.subset, meshtool.endpoints, meshtool.attempt_log; sets meshtool.overflow,
meshtool.ejected.
"""

from __future__ import annotations

import asyncio
import time
import weakref

from mitmproxy import http

from meshtool.sidecar import flowkeys


class _Limit:
    def __init__(self) -> None:
        self.active = 0
        self.waiters: list[asyncio.Future] = []

    def free(self) -> None:
        """A request is done: hand its slot straight to a waiter, else give it back."""
        while self.waiters:
            waiter = self.waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return
        self.active -= 1


class _Slot:
    """One request's hold on a limit; released once, by response/error or, failing that, when
    the flow is garbage-collected (a client that vanished mid-request)."""

    __slots__ = ("limit", "held")

    def __init__(self, limit: _Limit) -> None:
        self.limit, self.held = limit, True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.limit.free()


class CircuitBreaker:
    def __init__(self) -> None:
        self.limits: dict[str, _Limit] = {}
        self.errors: dict[str, int] = {}  # endpoint key -> consecutive errors
        self.ejected: dict[str, float] = {}  # endpoint key -> ejected until (monotonic)

    def request(self, flow: http.HTTPFlow):
        """None, or a coroutine to await when the request must queue for a slot."""
        md = flow.metadata
        subset = md.get(flowkeys.SUBSET)
        if flow.response or subset is None or not subset.breaker:
            return None
        cb = subset.breaker
        now = time.monotonic()
        eps = [e for e in md[flowkeys.ENDPOINTS] if self.ejected.get(e.key, 0) <= now]
        if not eps:
            return self._reject(flow, "ejected", "every endpoint is ejected (circuit open)")
        md[flowkeys.ENDPOINTS] = eps
        cap = min((v for v in (cb.max_connections, cb.http_max_requests) if v is not None),
                  default=None)
        if cap is None:
            return None
        limit = self.limits.setdefault(subset.breaker_key, _Limit())
        if limit.active < cap:
            limit.active += 1
            self._hold(flow, limit)
            return None
        pending = cb.http_max_pending_requests or 0
        if len(limit.waiters) >= pending:
            name, value = (("maxConnections", cap) if cb.max_connections == cap
                           else ("httpMaxRequests", cap))
            if pending:
                name, value = "httpMaxPendingRequests", pending
            return self._reject(flow, name, f"{name} ({int(value)}) reached")
        return self._queue(flow, limit)

    async def _queue(self, flow: http.HTTPFlow, limit: _Limit) -> None:
        waiter = asyncio.get_running_loop().create_future()
        limit.waiters.append(waiter)
        try:
            await waiter  # handed a slot by a finishing request
        except asyncio.CancelledError:
            if waiter in limit.waiters:
                limit.waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                limit.free()  # handed a slot just as we gave up: pass it on
            raise
        self._hold(flow, limit)

    @staticmethod
    def _hold(flow: http.HTTPFlow, limit: _Limit) -> None:
        slot = flow.metadata[flowkeys.CB_SLOT] = _Slot(limit)
        weakref.finalize(flow, slot.release)

    def _reject(self, flow: http.HTTPFlow, limit: str, why: str) -> None:
        flow.metadata[flowkeys.OVERFLOW] = limit
        flow.response = http.Response.make(503, f"circuit breaker: {why}\n".encode(),
                                           {"x-meshtool-overflow": limit})

    def _release(self, flow: http.HTTPFlow) -> None:
        slot = flow.metadata.pop(flowkeys.CB_SLOT, None)
        if slot is not None:
            slot.release()

    def response(self, flow: http.HTTPFlow) -> None:
        self._release(flow)
        subset = flow.metadata.get(flowkeys.SUBSET)
        if subset is None or not subset.breaker or subset.breaker.http_consecutive_errors is None:
            return
        cb = subset.breaker
        now = time.monotonic()
        for key, status in flow.metadata.get(flowkeys.ATTEMPT_LOG, ()):
            if status is not None and status < 500:
                self.errors[key] = 0
                continue
            self.errors[key] = self.errors.get(key, 0) + 1
            if self.errors[key] >= cb.http_consecutive_errors and self._may_eject(subset, now):
                self.ejected[key] = now + (30.0 if cb.sleep_window is None else cb.sleep_window)
                self.errors[key] = 0
                flow.metadata.setdefault(flowkeys.EJECTED, []).append(key)

    def _may_eject(self, subset, now: float) -> bool:
        keys = [e.key for e in subset.picker.endpoints]
        out = sum(1 for k in keys if self.ejected.get(k, 0) > now)
        pct = subset.breaker.http_max_ejection_percent
        pct = 100 if pct is None else pct
        return out < max(1, int(len(keys) * pct / 100))

    def error(self, flow: http.HTTPFlow) -> None:
        self._release(flow)
