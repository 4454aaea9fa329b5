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


def fast_event_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (a dependency on Linux and macOS), else None
    (asyncio's own). For the control plane: at 10,000 streams asyncio's selector loop, its
    callbacks and transports were about a fifth of a push round's CPU."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def serve_until_signal(serve: Callable[[asyncio.Event], Awaitable[None]], listen: str,
                       loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
                       ) -> None:
    """Run `await serve(stop)` until SIGINT or SIGTERM sets `stop` (on a loop from
    `loop_factory`, default asyncio's); a listen address that cannot be bound is one line
    naming it."""
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

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())
