"""A dashboard on its own thread and event loop, for commands that are busy with something else
(`meshtool demo` shows one while its stages run)."""

from __future__ import annotations

import asyncio
import threading

from meshtool.controlplane.dashboard.server import Dashboard


class BackgroundDashboard:
    def __init__(self, control_plane, version: str = "") -> None:
        self.board = Dashboard(control_plane, version)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="meshtool-dashboard")
        self.url: str | None = None

    def start(self, host: str = "127.0.0.1", ports: tuple[int, ...] = (5681, 0)) -> str:
        """Listen on the first port that is free (0: any); the URL."""
        self.thread.start()
        error: OSError | None = None
        for port in ports:
            try:
                self.url = asyncio.run_coroutine_threadsafe(
                    self.board.start(host, port), self.loop).result(10)
                return self.url
            except OSError as exc:
                error = exc
        raise error or OSError("no port to listen on")

    def stop(self) -> None:
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.board.stop(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
