"""Deterministic choosers: smooth weighted round-robin, exact-rate counters, endpoint pickers.

They hold a little mutable state each; that state lives inside a compiled snapshot, so a swap
starts them afresh. All run on the proxy's single event loop, so no locks are needed.
"""

from __future__ import annotations

import random
from typing import Callable, Generic, Sequence, TypeVar

T = TypeVar("T")


class SmoothWeighted(Generic[T]):
    """nginx's smooth weighted round-robin: 90/10 gives exactly 9 of every 10, interleaved.

    Each pick adds every weight to its running total, takes the largest total and subtracts
    the sum of the weights from it.
    """

    def __init__(self, items: Sequence[tuple[T, int]]):
        self.items = [(item, w) for item, w in items if w > 0]
        self.total = sum(w for _, w in self.items)
        self.current = [0] * len(self.items)

    def pick(self) -> T:
        if len(self.items) == 1:
            return self.items[0][0]
        best = 0
        for i, (_, w) in enumerate(self.items):
            self.current[i] += w
            if self.current[i] > self.current[best]:
                best = i
        self.current[best] -= self.total
        return self.items[best][0]


class ExactRate:
    """Fires on exactly `percent` of calls, spread evenly: call n fires when floor(n*p/100) grows."""

    def __init__(self, percent: float):
        self.percent = percent
        self.count = 0

    def fire(self) -> bool:
        before = int(self.count * self.percent // 100)
        self.count += 1
        return int(self.count * self.percent // 100) > before


class EndpointPicker:
    """Orders a subset's endpoints for one request: the load-balancing choice first.

    The rest follow in ring order so that a retry moves on to another endpoint.
    `active` maps an endpoint key to its requests in flight (for LEAST_CONN).
    """

    def __init__(self, endpoints: Sequence, method: str, active: dict[str, int],
                 rng: Callable[[int], int] | None = None):
        self.endpoints = list(endpoints)
        self.method = method
        self.active = active
        self.next = 0
        self.rng = rng or (lambda n: random.randrange(n))

    def order(self) -> list:
        eps = self.endpoints
        n = len(eps)
        if n <= 1:
            return eps
        if self.method == "RANDOM":
            first = self.rng(n)
        elif self.method == "LEAST_CONN":
            # fewest in flight; ties broken round-robin so that an idle set still rotates
            start = self.next
            self.next = (self.next + 1) % n
            first = min(range(n), key=lambda i: (self.active.get(eps[i].key, 0), (i - start) % n))
        else:
            first = self.next
            self.next = (self.next + 1) % n
        return eps[first:] + eps[:first]


def locality_tiers(endpoints: Sequence, caller: dict[str, str],
                   priority: Sequence[str]) -> list[list]:
    """Endpoints grouped by how many of the `priority` labels, in order, they share with the
    caller (Istio's failoverPriority): the best-matching group first, empty groups left out."""
    groups: dict[int, list] = {}
    for ep in endpoints:
        level = 0
        for label in priority:
            value = caller.get(label)
            if value is None or ep.labels.get(label) != value:
                break
            level += 1
        groups.setdefault(level, []).append(ep)
    return [groups[level] for level in sorted(groups, reverse=True)]


class LocalityPicker:
    """Locality-aware ordering: the nearest tier's load-balancing order first, then each
    farther tier's, so that the endpoints left after ejection or failed health checks (and a
    retry) fail over to the next-nearest ones. Each tier balances with its own picker."""

    def __init__(self, endpoints: Sequence, caller: dict[str, str], priority: Sequence[str],
                 method: str, active: dict[str, int]):
        self.endpoints = list(endpoints)
        self.tiers = [EndpointPicker(tier, method, active)
                      for tier in locality_tiers(endpoints, caller, priority)]

    def order(self) -> list:
        if len(self.tiers) == 1:
            return self.tiers[0].order()
        return [ep for tier in self.tiers for ep in tier.order()]
