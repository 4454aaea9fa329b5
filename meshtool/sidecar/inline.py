"""Run synchronous hooks inside the event that raised them, and write each burst of data once.

mitmproxy's connection handler turns every hook a layer raises into an asyncio task, which
runs the addons and then feeds a HookCompleted event back into the layers under the handler's
lock: four to six tasks, lock round trips and event-loop turns per request. Our policies are
plain functions, so for them the task buys nothing. `inline(handler, run_hook)` wraps the
handler's root layer so that:

- a hook whose handlers are all synchronous runs as soon as the layers have yielded their
  commands for the event (exactly where the task would have started), and its HookCompleted is
  handled at once, in the same pass; a handler that turns out to return an awaitable finishes
  in a task, which then completes the hook the way mitmproxy does;
- consecutive SendData commands to one connection become one write (a response's head, body
  and end used to be two or three send() system calls);
- the bytes received from and sent to the client are counted on the way, whatever the
  protocol, in `client.meshtool_bytes` ([received, sent]: the metrics read it at disconnect).

Events, commands and their order are mitmproxy's; only the scheduling changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterator

from mitmproxy.proxy import commands, events

log = logging.getLogger("meshtool.sidecar")

_ARG_NAMES: dict[type, tuple[str, ...]] = {}  # a hook class's dataclass fields, looked up once


def hook_args(hook: commands.StartHook) -> list:
    """`hook.args()` without dataclasses.fields() on every call."""
    names = _ARG_NAMES.get(type(hook))
    if names is None:
        names = _ARG_NAMES[type(hook)] = tuple(type(hook).__dataclass_fields__)
    return [getattr(hook, n) for n in names]


def inline(handler, sync_hooks: dict[str, list[Callable]],
           before: Callable[[object, commands.StartHook], bool]) -> None:
    """Wrap `handler.layer.handle_event` (see the module docstring).

    `sync_hooks`: hook name -> the functions to call, for the hooks that may run inline.
    `before(handler, hook)`: called first; True means the hook is settled, call nothing."""
    root = handler.layer
    real = root.handle_event
    client = handler.client
    counts = client.meshtool_bytes = [0, 0]  # received from the client, sent to it

    def handle_event(event: events.Event) -> Iterator[commands.Command]:
        if type(event) is events.DataReceived and event.connection is client:
            counts[0] += len(event.data)
        queue = [event]
        while queue:
            hooks: list[commands.StartHook] = []
            pending: dict = {}  # connection -> chunks, in the order written
            for command in real(queue.pop(0)):
                if type(command) is commands.SendData:
                    pending.setdefault(command.connection, []).append(command.data)
                    continue
                if pending:
                    yield from _flush(pending, client, counts)
                if isinstance(command, commands.StartHook) and command.name in sync_hooks:
                    hooks.append(command)
                else:
                    yield command
            if pending:
                yield from _flush(pending, client, counts)
            for hook in hooks:
                if _run(handler, hook, sync_hooks[hook.name], before) and hook.blocking:
                    queue.append(events.HookCompleted(hook))

    root.handle_event = handle_event  # type: ignore[method-assign]


def _flush(pending: dict, client, counts: list[int]) -> Iterator[commands.SendData]:
    for connection, chunks in pending.items():
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if connection is client:
            counts[1] += len(data)
        yield commands.SendData(connection, data)
    pending.clear()


def _run(handler, hook: commands.StartHook, fns: list[Callable], before) -> bool:
    """Call the hook's functions; False when one returned an awaitable (a task finishes it)."""
    if before(handler, hook):
        return True
    args = hook_args(hook)
    for i, fn in enumerate(fns):
        try:
            result = fn(*args)
        except Exception:  # noqa: BLE001 - as mitmproxy's AddonManager would: log, go on
            log.exception("%s hook of %s failed", hook.name, type(fn.__self__).__name__)
            continue
        if result is not None:
            task = asyncio.ensure_future(_finish(handler, hook, result, fns[i + 1:], args))
            handler.hook_tasks.add(task)
            task.add_done_callback(handler.hook_tasks.discard)
            return False
    return True


async def _finish(handler, hook, awaitable, rest: list[Callable], args: list) -> None:
    with handler.timeout_watchdog.disarm():
        try:
            await awaitable
        except Exception:  # noqa: BLE001
            log.exception("%s hook failed", hook.name)
        for fn in rest:
            try:
                result = fn(*args)
                if result is not None:
                    await result
            except Exception:  # noqa: BLE001
                log.exception("%s hook of %s failed", hook.name, type(fn.__self__).__name__)
    if hook.blocking:
        await handler.server_event(events.HookCompleted(hook))
