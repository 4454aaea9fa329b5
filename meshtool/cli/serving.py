"""What the long-running server commands (control-plane, webhook) share: --log-level, the
logging set-up and the run loop that stops on SIGINT/SIGTERM."""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable

import click

if TYPE_CHECKING:
    import asyncio

log_level_option = click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
    show_default=True, help="Log verbosity (logs go to stderr).")


def setup_logging(log_level: str) -> None:
    import logging

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")


def serve_until_signal(serve: Callable[[asyncio.Event], Awaitable[None]], listen: str) -> None:
    """Run `await serve(stop)` until SIGINT or SIGTERM sets `stop`; a listen address that
    cannot be bound is one line naming it."""
    import asyncio
    import signal

    from meshtool.errors import MeshtoolError

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await serve(stop)
        except OSError as exc:
            raise MeshtoolError(f"cannot listen on {listen}: {exc.strerror or exc}") from None

    asyncio.run(main())
