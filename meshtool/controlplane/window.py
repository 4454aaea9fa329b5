"""A window on the bytes the control plane has sent and not yet seen answered.

Every push takes its frame's size from the window before it is written and gives it back when
the proxy answers (or when the send is abandoned, or after the control plane's `stall` seconds:
a stuck proxy holds its share only that long, its one frame then sits in its own socket
buffers). Sends beyond the limit wait their turn in order, so the bytes in flight, and the
memory they hold in the control plane and the kernel, stay bounded whatever the number of
proxies. No single frame counts for more than 1/SHARES of the window, so a few stuck proxies
with large frames cannot hold it all: the others keep going.
"""

from __future__ import annotations

import asyncio
from collections import deque

SHARES = 16


class ByteWindow:
    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self.peak = 0  # the most bytes ever in flight at once
        self.waited = 0  # sends that had to wait for room
        self._waiters: deque[tuple[int, asyncio.Future]] = deque()
        self._most = max(limit // SHARES, 1)  # what one frame counts for at most

    def try_acquire(self, size: int) -> int | None:
        """The share taken for `size` bytes if there is room now and nobody waits, else None
        (then `acquire`): most sends never wait, and need no coroutine."""
        share = min(size, self._most)
        if not self._waiters and self.used + share <= self.limit:
            self._take(share)
            return share
        return None

    async def acquire(self, size: int) -> int:
        """Wait for room for `size` bytes; returns the share taken (give it to `release`)."""
        share = min(size, self._most)
        if not self._waiters and self.used + share <= self.limit:
            self._take(share)
            return share
        fut = asyncio.get_running_loop().create_future()
        entry = (share, fut)
        self._waiters.append(entry)
        self.waited += 1
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(share)  # granted just as it was cancelled
            elif entry in self._waiters:
                self._waiters.remove(entry)
            raise
        return share

    def _take(self, share: int) -> None:
        self.used += share
        if self.used > self.peak:
            self.peak = self.used

    def release(self, share: int) -> None:
        self.used -= share
        while self._waiters:
            share, fut = self._waiters[0]
            if fut.cancelled():
                self._waiters.popleft()
                continue
            if self.used and self.used + share > self.limit:
                break
            self._waiters.popleft()
            self._take(share)
            fut.set_result(None)
