"""One mitmproxy addon that runs our policy addons in order.

mitmproxy dispatches every event to every addon through its AddonManager (hook lookup,
a context manager, a generator per addon). With ten policies that bookkeeping costs more
than the policies themselves, so the Master gets this one composite, which calls each
policy's hook directly. The policies stay ordinary addons (their tests drive them alone).

A policy's `request` runs when the request headers have arrived (mitmproxy's `requestheaders`),
before any body is read, so that bodies can stream; `request_complete` runs once the whole
request has passed (mitmproxy's `request`).
"""

from __future__ import annotations

import logging

log = logging.getLogger("meshtool.sidecar")

# mitmproxy event -> the policies' method that handles it
HOOKS = {"requestheaders": "request", "request": "request_complete",
         "responseheaders": "responseheaders", "response": "response", "error": "error",
         "http_connect": "http_connect", "tls_clienthello": "tls_clienthello",
         "next_layer": "next_layer", "tcp_start": "tcp_start", "server_connect": "server_connect",
         "tls_start_server": "tls_start_server", "client_connected": "client_connected",
         "client_disconnected": "client_disconnected", "tcp_message": "tcp_message",
         "tls_start_client": "tls_start_client", "tls_established_client": "tls_established_client",
         "tls_failed_client": "tls_failed_client"}


class Pipeline:
    def __init__(self, policies: list):
        self.policies = list(policies)
        for event, method in HOOKS.items():
            fns = [getattr(p, method) for p in self.policies if callable(getattr(p, method, None))]
            if fns:
                setattr(self, event, _compose(method, fns))

    def find(self, cls: type):
        return next((p for p in self.policies if isinstance(p, cls)), None)


def _compose(hook: str, fns: list):
    """One plain function calling each policy in order. A policy that must wait (a fault
    delay, a queued circuit-breaker slot) returns an awaitable; only then does the composite
    return a coroutine that awaits it and runs the rest, so the common request costs no task."""

    def run(arg):
        for i, fn in enumerate(fns):
            try:
                result = fn(arg)
            except Exception:  # noqa: BLE001 - one policy's bug must not stop the others
                log.exception("addon %s.%s failed", type(fn.__self__).__name__, hook)
                continue
            if result is not None:
                return _rest(result, fns[i + 1:], arg)
        return None

    async def _rest(waiting, rest: list, arg) -> None:
        try:
            await waiting
        except Exception:  # noqa: BLE001
            log.exception("addon %s failed", hook)
        for fn in rest:
            try:
                result = fn(arg)
                if result is not None:
                    await result
            except Exception:  # noqa: BLE001
                log.exception("addon %s.%s failed", type(fn.__self__).__name__, hook)

    return run
