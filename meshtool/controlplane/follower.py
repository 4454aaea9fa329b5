"""Follow the config store from a thread, handing its state to the event loop.

The store's `watch` blocks (it polls the SQLite file), so it runs in its own thread and never
holds up the discovery server. Each batch of changes is applied to a private copy of the rules;
the loop receives a complete, consistent set of rules and the revision it reflects.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Callable

from meshtool.model.resource import Resource
from meshtool.store.base import DELETED, Key, RelistRequired, Store

log = logging.getLogger("meshtool.controlplane")

Deliver = Callable[[int, dict[Key, Resource]], None]


class StoreFollower:
    def __init__(self, open_store: Callable[[], Store], deliver: Deliver,
                 loop: asyncio.AbstractEventLoop, *, watch_timeout: float = 0.5,
                 retry: float = 1.0):
        self._open = open_store
        self._deliver = deliver
        self._loop = loop
        self.watch_timeout = watch_timeout
        self.retry = retry
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.watch_timeout + 2)

    def _hand_over(self, revision: int, rules: dict[Key, Resource]) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._deliver, revision, dict(rules))

    def _run(self) -> None:
        store: Store | None = None
        while not self._stop.is_set():
            try:
                if store is None:
                    store = self._open()
                revision, items = store.snapshot()
                rules: dict[Key, Resource] = {r.key: r for r in items}
                self._hand_over(revision, rules)
                self._follow(store, revision, rules)
            except RelistRequired as exc:
                log.warning("store: %s; reading it whole again", exc)
            except Exception as exc:  # noqa: BLE001 - keep following; the store may come back
                log.error("store: %s: %s; retrying in %.1fs", type(exc).__name__, exc, self.retry)
                if store is not None:
                    try:
                        store.close()
                    except Exception:  # noqa: BLE001
                        pass
                    store = None
                self._stop.wait(self.retry)
        if store is not None:
            store.close()

    def _follow(self, store: Store, revision: int, rules: dict[Key, Resource]) -> None:
        while not self._stop.is_set():
            changes = store.watch(revision, self.watch_timeout)
            if not changes:
                continue
            for ch in changes:
                if ch.type == DELETED:
                    rules.pop(ch.resource.key, None)
                else:
                    rules[ch.resource.key] = ch.resource
                revision = max(revision, ch.revision)
            self._hand_over(revision, rules)
