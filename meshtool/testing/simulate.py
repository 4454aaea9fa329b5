"""Lightweight simulated proxies: many DiscoveryClients in one process, for tests and benchmarks.

Each simulated proxy speaks the real protocol over its own WebSocket and "applies" a snapshot
by checking its shape and remembering it; nothing proxies traffic. Run as a program:

    python -m meshtool.testing.simulate --control-plane 127.0.0.1:15010 --count 1000

It prints one line `ready N` on stdout once every proxy has ACKed a first snapshot, then runs
until SIGTERM/SIGINT. `--nack-rule NAME` makes the proxies reject every snapshot holding a rule
of that name (to provoke NACKs); stopping the process with SIGSTOP makes its proxies unresponsive.
`--trace FILE` records, as JSON lines, when every `--trace-every`-th proxy applied which version
(and each version's endpoint addresses, once): what a benchmark needs to time a change to each proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import re
import signal
import sys
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable

from meshtool.conventions import DEFAULT_NAMESPACE
from meshtool.discovery.protocol import ACCEPT_DELTA, ACCEPT_ZLIB, DELTA, SNAPSHOT, Identity
from meshtool.discovery.snapshot import Held
from meshtool.discovery.wire import inflate, split_binary

if TYPE_CHECKING:  # aiohttp loads in run_fleet: the program answers SIGTERM while it imports
    import aiohttp

    from meshtool.discovery.client import DiscoveryClient


_NONCE_KEY = '"nonce":"'


class SharedDecoder:
    """Frame decoding for many simulated proxies in one process: the payload of an update
    (a snapshot, or a delta's update, plain or compressed) is decoded once per version and
    shared (the control plane sends every proxy the same bytes, apart from the envelope with
    the nonce). In a real mesh each sidecar decodes its own copy on its own CPU, in parallel;
    one simulator process decoding a thousand copies one after another would measure itself,
    not the control plane. Anything not shaped as expected is decoded in full."""

    _envelope = re.compile(r'\{"type":"(snapshot|delta)","version":("(?:[^"\\]|\\.)*"),'
                           r'"nonce":("(?:[^"\\]|\\.)*"),(?:"base":(null|"(?:[^"\\]|\\.)*"),)?'
                           r'"(snapshot|update)":')

    def __init__(self, keep: int = 8):
        self.keep = keep
        self._cache: dict[tuple, Any] = {}
        self._frames: dict[tuple[str, str], dict] = {}  # text frame less its nonce -> message
        self.decoded = 0  # full decodes, for tests

    def _shared(self, key: tuple, decode: Callable[[], Any]) -> Any:
        value = self._cache.get(key)
        if value is None:
            self.decoded += 1
            value = decode()
            if len(self._cache) >= self.keep:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = value
        return value

    def __call__(self, data: str | bytes):
        if isinstance(data, bytes):
            env, body = split_binary(data)
            key = (env["type"], env.get("version"), env.get("base"), len(body))
            payload = self._shared(key, lambda: json.loads(inflate(body)))
            out = {k: v for k, v in env.items() if k != "encoding"}
            out["snapshot" if env["type"] == SNAPSHOT else "update"] = payload
            return out
        # The same frame as another proxy's but for the nonce: its decoding, with this nonce.
        i = data.find(_NONCE_KEY)
        j = data.find('"', i + len(_NONCE_KEY)) if i >= 0 else -1
        if j >= 0 and "\\" not in data[i:j]:
            key = (data[:i], data[j:])
            seen = self._frames.get(key)
            if seen is not None:
                return {**seen, "nonce": data[i + len(_NONCE_KEY):j]}
        else:
            key = None
        out = self._text(data)
        if (key is not None and isinstance(out, dict) and out.get("type") in (SNAPSHOT, DELTA)
                and out.get("nonce") == data[i + len(_NONCE_KEY):j]):  # that was the nonce
            if len(self._frames) >= self.keep:
                self._frames.pop(next(iter(self._frames)))
            self._frames[key] = {k: v for k, v in out.items() if k != "nonce"}
        return out

    def _text(self, data: str):
        m = self._envelope.match(data)
        if m is None or not data.endswith("}"):
            self.decoded += 1
            return json.loads(data)
        kind, field = m.group(1), m.group(5)
        version, nonce = json.loads(m.group(2)), json.loads(m.group(3))
        base = json.loads(m.group(4)) if m.group(4) else None
        key = (kind, version, base, len(data) - m.end())
        payload = self._shared(key, lambda: json.loads(data[m.end():-1]))
        out = {"type": kind, "version": version, "nonce": nonce, field: payload}
        if kind == DELTA:
            out["base"] = base
        return out


class SharedUpdates:
    """The results of applying a delta, shared by the simulated proxies that apply the same
    update (the same decoded object, from SharedDecoder) to the same held state: each real
    sidecar applies its copy on its own CPU, in parallel; one simulator process doing it ten
    thousand times a round measured itself more than the control plane. Keeps the newest few."""

    def __init__(self, keep: int = 64):
        self.keep = keep
        self._cache: dict[tuple, tuple[Any, "SharedHeld"]] = {}
        self.applied = 0  # updates applied for real, for tests

    def updated(self, held: "SharedHeld", version: str, update: dict, full: bool) -> "SharedHeld":
        key = (None if full else held, version, id(update))
        hit = self._cache.get(key)
        if hit is not None and hit[0] is update:
            return hit[1]
        self.applied += 1
        new = Held.updated(held, version, update, full=full)  # ValueError: not cached
        result = SharedHeld(new.version, new.services, new.rules, new.complete, shared=self)
        if len(self._cache) >= self.keep:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (update, result)  # the update kept alive: its id stays its own
        return result


@dataclasses.dataclass(frozen=True, eq=False)
class SharedHeld(Held):
    """A simulated proxy's held state whose updates (and document) are shared (SharedUpdates)."""

    shared: SharedUpdates | None = None

    def updated(self, version: str, update: dict, *, full: bool) -> Held:
        if self.shared is None:
            return Held.updated(self, version, update, full=full)
        return self.shared.updated(self, version, update, full)

    @cached_property
    def _document(self) -> dict[str, Any]:
        return Held.document(self)

    def document(self) -> dict[str, Any]:
        return self._document  # read only: the simulated apply only checks it


def simulated_apply(nack_rule: str | None = None):
    """An apply function that checks the snapshot's top level and optionally rejects a rule."""

    def apply(snapshot: dict) -> None:
        for key in ("version", "services", "rules"):
            if key not in snapshot:
                raise ValueError(f"snapshot: {key} is missing")
        if nack_rule:
            for rule in snapshot["rules"]:
                if (rule.get("metadata") or {}).get("name") == nack_rule:
                    raise ValueError(f"rules: {rule.get('kind')}/{nack_rule}: rejected by the "
                                     f"simulated proxy")

    return apply


class ApplyTrace:
    """When each traced proxy applied which version, as JSON lines in a file: `{"p": INDEX,
    "t": UNIX_TIME, "v": VERSION}` per apply (just before the ACK is sent), and the first time a
    version is applied `{"v": VERSION, "endpoints": {"NS/NAME": [ADDRESS, ...]}}` (whose
    endpoints it lists is what a benchmark compares with what it wrote)."""

    def __init__(self, path: str):
        self._out = open(path, "w", buffering=1 << 16)
        self._seen: set[str] = set()

    def wrap(self, index: int, apply: Callable[[dict], None]) -> Callable[[dict], None]:
        def traced(snapshot: dict) -> None:
            apply(snapshot)  # a rejected snapshot (ValueError) is not recorded
            version = snapshot["version"]
            if version not in self._seen:
                self._seen.add(version)
                endpoints = {f"{s.get('namespace') or DEFAULT_NAMESPACE}/{s['name']}":
                             [e["address"] for e in s.get("endpoints") or ()]
                             for s in snapshot["services"]}
                self._out.write(json.dumps({"v": version, "endpoints": endpoints}) + "\n")
            self._out.write(f'{{"p":{index},"t":{time.time():.6f},"v":{json.dumps(version)}}}\n')

        return traced

    def close(self) -> None:
        self._out.close()


def fleet_identities(count: int, *, services: int = 10, prefix: str = "sim",
                     namespace: str = DEFAULT_NAMESPACE, inbound_base: int | None = 20000,
                     admin_base: int | str | None = None) -> list[Identity]:
    """`count` proxies spread over `services` services, versions v1/v2 alternating.
    admin_base "auto": each proxy's admin port is picked by the kernel when it is served."""
    out = []
    for i in range(count):
        svc = f"{prefix}-svc{i % max(services, 1)}"
        inbound = f"127.0.0.1:{inbound_base + i}" if inbound_base else None
        admin = None if not admin_base else "127.0.0.1:0" if admin_base == "auto" \
            else f"127.0.0.1:{int(admin_base) + i}"
        out.append(Identity(proxy_id=f"{prefix}-{i}.{namespace}", service=svc, namespace=namespace,
                            labels={"version": "v1" if i % 2 == 0 else "v2"},
                            inbound_address=inbound, ports=(8080,), admin_address=admin))
    return out


async def serve_admin(client: DiscoveryClient) -> "aiohttp.web.AppRunner":
    """The proxy's admin /config_dump: the snapshot in force and its version."""
    from aiohttp import web

    async def config_dump(request):
        return web.json_response({"version": client.version, "snapshot": client.snapshot})

    app = web.Application()
    app.router.add_get("/config_dump", config_dump)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, _, port = client.identity.admin_address.rpartition(":")
    await web.TCPSite(runner, host, int(port)).start()
    if int(port) == 0:  # announce the port the kernel gave (no free_port()+i races)
        bound = runner.addresses[0][1]
        client.identity = dataclasses.replace(client.identity, admin_address=f"{host}:{bound}")
    return runner


async def run_fleet(address: str, identities: list[Identity], *, nack_rule: str | None = None,
                    stop: asyncio.Event, ready: asyncio.Event | None = None,
                    backoff_cap: float = 2.0, sotw: bool = False,
                    trace: ApplyTrace | None = None,
                    trace_every: int = 1) -> list[DiscoveryClient]:
    """`sotw`: the proxies speak the old protocol (whole snapshots, uncompressed). `trace`:
    every `trace_every`-th proxy records its applies there."""
    import aiohttp

    from meshtool.discovery.client import DiscoveryClient

    connector = aiohttp.TCPConnector(limit=0)  # the default caps a session at 100 connections
    async with aiohttp.ClientSession(connector=connector) as session:
        decode, updates = SharedDecoder(), SharedUpdates()
        def apply_of(i: int) -> Callable[[dict], None]:
            apply = simulated_apply(nack_rule)
            return trace.wrap(i, apply) if trace is not None and i % trace_every == 0 else apply

        clients = [DiscoveryClient(address, ident, apply_of(i), session=session,
                                   backoff_cap=backoff_cap, decode=decode,
                                   accept=() if sotw else (ACCEPT_DELTA, ACCEPT_ZLIB))
                   for i, ident in enumerate(identities)]
        for c in clients:
            c.held = SharedHeld(shared=updates)
        admins = [await serve_admin(c) for c in clients if c.identity.admin_address]
        for c in clients:
            c.start()
        if ready is not None:
            everyone = asyncio.ensure_future(asyncio.gather(
                *(c.wait_for(lambda c: c.last_reply is not None, 3600) for c in clients)))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait([everyone, stopping], return_when=asyncio.FIRST_COMPLETED)
            if everyone.done():
                ready.set()
            else:  # stopped before every proxy was answered
                everyone.cancel()
                await asyncio.gather(everyone, return_exceptions=True)
            stopping.cancel()
        await stop.wait()
        for c in clients:
            await c.stop()
        for runner in admins:
            await runner.cleanup()
    return clients


def _exit_now(signum, frame) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m meshtool.testing.simulate",
                                 description="Simulated proxies speaking the push protocol.")
    ap.add_argument("--control-plane", default="127.0.0.1:15010", metavar="HOST:PORT")
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--services", type=int, default=10)
    ap.add_argument("--prefix", default="sim")
    ap.add_argument("--namespace", default=DEFAULT_NAMESPACE)
    ap.add_argument("--inbound-base", type=int, default=20000,
                    help="proxy i claims 127.0.0.1:(base+i) as its inbound address; 0: none")
    ap.add_argument("--admin-base", default="0",
                    help="proxy i serves /config_dump on 127.0.0.1:(base+i); 'auto': on a port "
                         "the kernel picks; 0: no admin port")
    ap.add_argument("--nack-rule", default=None, metavar="NAME")
    ap.add_argument("--sotw", action="store_true",
                    help="speak the old protocol: whole snapshots on every change, no deltas, "
                         "no compression (the reference mode of the benchmarks)")
    ap.add_argument("--trace", default=None, metavar="FILE",
                    help="record when proxies apply which version, as JSON lines (see ApplyTrace)")
    ap.add_argument("--trace-every", type=int, default=1, metavar="K",
                    help="with --trace: record proxies 0, K, 2K, ... only")
    args = ap.parse_args(argv)

    # Until the loop's handlers are in place (imports take a while on a busy machine), a
    # SIGTERM or SIGINT is a clean exit too.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_now)
    from meshtool.controlplane.fdlimit import raise_fd_limit

    raise_fd_limit()  # one stream per simulated proxy
    # Thousands of clients in one process keep hundreds of thousands of objects alive; with the
    # default thresholds the collector's full scans took most of the fleet's CPU per push round
    # (a real sidecar's heap is small, and its own). The control plane does the same (serve).
    gc.set_threshold(20_000, 50, 100)

    async def run() -> None:
        stop, ready = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        idents = fleet_identities(args.count, services=args.services, prefix=args.prefix,
                                  namespace=args.namespace, inbound_base=args.inbound_base or None,
                                  admin_base=(None if args.admin_base == "0" else args.admin_base
                                              if args.admin_base == "auto" else int(args.admin_base)))

        async def announce() -> None:
            await ready.wait()
            gc.freeze()  # the fleet as connected is long-lived: out of every later scan
            print(f"ready {len(idents)}", flush=True)

        announcer = asyncio.ensure_future(announce())
        trace = ApplyTrace(args.trace) if args.trace else None
        try:
            await run_fleet(args.control_plane, idents, nack_rule=args.nack_rule, stop=stop,
                            ready=ready, sotw=args.sotw, trace=trace,
                            trace_every=max(args.trace_every, 1))
        finally:
            if trace is not None:
                trace.close()
        announcer.cancel()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
