"""Waiting for a condition instead of sleeping a fixed time."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05,
             what: str = "condition") -> T:
    """Call `predicate` until it returns something truthy (returned); TimeoutError after
    `timeout` seconds. Exceptions of the predicate count as not yet."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            got = predicate()
            if got:
                return got
        except Exception as exc:  # noqa: BLE001 - not ready yet
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout:g}s"
                               + (f" (last error: {last})" if last else ""))
        time.sleep(interval)
