"""Sidecar registrations shared through a SQLite file beside the local store.

Why: a restarted control plane must know the endpoints of the previous run before it pushes
(otherwise the first sidecars back get a mesh without the others), and control-plane replicas
on one store must all push the full endpoint set although each only holds its own streams.

One file (`<store>.workloads.db`) holds two tables: `replicas` (each running control plane,
its heartbeat) and `workloads` (each registered sidecar: its hello, the replica serving it, a
token naming the registration, and when it was lost). A thread per control plane writes its
own changes in batches, heartbeats, and reads the table back when another process changed it.

A registration counts as an endpoint while its replica heartbeats and its stream is up; once
lost (stream closed, or replica silent for `lease`) it stays for `grace`; registrations found
at start-up stay at least `warmup` seconds, so that their sidecars can come back (to this or
another replica) before anyone is told they are gone. The replica is *warming* until every
registration it found lost at start-up has come back or expired.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from meshtool.discovery.protocol import Identity, parse_hello

log = logging.getLogger("meshtool.controlplane")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replicas (
    name TEXT PRIMARY KEY, address TEXT, started REAL NOT NULL, heartbeat REAL NOT NULL);
CREATE TABLE IF NOT EXISTS workloads (
    proxy_id TEXT PRIMARY KEY, hello TEXT NOT NULL, replica TEXT NOT NULL,
    token INTEGER NOT NULL, lost REAL)
"""


def registrations_path(store_path: str | Path) -> Path:
    """`mesh.db` -> `mesh.workloads.db`, in the store's directory."""
    p = Path(store_path)
    return p.with_name(f"{p.stem}.workloads.db")


@dataclass(frozen=True)
class Registration:
    identity: Identity
    token: int
    replica: str


@dataclass(frozen=True)
class View:
    """What one read of the file means for this replica."""

    registrations: dict[str, Registration]  # endpoints served by other replicas (or by none)
    warming: int  # registrations found lost at start-up, not yet back or expired
    replicas: list[dict]  # every live replica: name, address, started


class SharedRegistrations:
    def __init__(self, path: str | Path, replica: str, deliver: Callable[[View], None],
                 loop: asyncio.AbstractEventLoop, *, address: Callable[[], str | None],
                 grace: float = 2.0, warmup: float = 10.0, lease: float = 2.0,
                 interval: float = 0.1):
        self.path = Path(path)
        self.replica = replica
        self._deliver = deliver
        self._loop = loop
        self._address = address
        self.grace, self.warmup, self.lease, self.interval = grace, warmup, lease, interval
        self.started = time.time()
        self._writes: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()
        self._wake = threading.Event()  # a write is queued: flush it now, not at the next tick
        self._thread = threading.Thread(target=self._run, name="registrations", daemon=True)
        self._recovered: set[tuple[str, int]] | None = None  # found at start-up, not back yet
        self._beats0: dict[str, float] = {}  # the replicas' heartbeats then
        self._last: tuple | None = None
        self._parsed: dict[str, tuple[str, Identity]] = {}  # proxy id -> (hello, identity)
        self._data_version: int | None = None  # SQLite's: moves when another process commits
        self._read_by = 0.0  # when the file must be read again though nobody wrote it

    # -- called from the event loop ----------------------------------------------------------
    def start(self) -> None:
        conn = self._connect()  # fail in the caller, with the file's name, if it cannot open
        conn.close()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def put(self, identity: Identity, token: int) -> None:
        self._writes.put(("put", identity.proxy_id, json.dumps(identity.hello()), token))
        self._wake.set()

    def lost(self, proxy_id: str, token: int) -> None:
        self._writes.put(("lost", proxy_id, time.time(), token))
        self._wake.set()

    def gone(self, proxy_id: str, token: int) -> None:
        self._writes.put(("gone", proxy_id, None, token))
        self._wake.set()

    # -- the thread ----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            for stmt in _SCHEMA.split(";"):
                conn.execute(stmt)
            return conn
        except sqlite3.Error as exc:
            raise OSError(f"registrations {self.path}: {exc}") from None

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        beat_at = 0.0
        while True:
            self._wake.clear()  # before draining: a write queued from now on wakes the next round
            stopping = self._stop.is_set()
            try:
                if conn is None:
                    conn = self._connect()
                now = time.time()
                wrote = self._write(conn, now, heartbeat=now >= beat_at, leaving=stopping)
                if now >= beat_at:
                    beat_at = now + self.lease / 4
                if stopping:
                    break
                if self._changed(conn, now, wrote):
                    self._read(conn, now)
            except (sqlite3.Error, OSError) as exc:
                log.error("registrations %s: %s; retrying", self.path, exc)
                if conn is not None:
                    conn.close()
                    conn = None
                if stopping:
                    break
            self._wake.wait(self.interval)
        if conn is not None:
            conn.close()

    def _write(self, conn: sqlite3.Connection, now: float, *, heartbeat: bool,
               leaving: bool) -> bool:
        """Write the queued changes (and the heartbeat); True when registrations changed."""
        batch = []
        while True:
            try:
                batch.append(self._writes.get_nowait())
            except queue.Empty:
                break
        if not (batch or heartbeat or leaving):
            return False
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op, pid, value, token in batch:
                if op == "put":
                    conn.execute("INSERT OR REPLACE INTO workloads VALUES (?, ?, ?, ?, NULL)",
                                 (pid, value, self.replica, token))
                elif op == "lost":
                    conn.execute("UPDATE workloads SET lost = ? WHERE proxy_id = ? AND token = ?",
                                 (value, pid, token))
                else:
                    conn.execute("DELETE FROM workloads WHERE proxy_id = ? AND token = ?",
                                 (pid, token))
            if leaving:  # our streams are closed (each marked lost): others take over the rows
                conn.execute("DELETE FROM replicas WHERE name = ?", (self.replica,))
            elif heartbeat:
                conn.execute("INSERT OR REPLACE INTO replicas VALUES (?, ?, ?, ?)",
                             (self.replica, self._address(), self.started, now))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return bool(batch)

    def _changed(self, conn: sqlite3.Connection, now: float, wrote: bool) -> bool:
        """Whether the file must be read: another process committed (SQLite's data_version
        moved), we changed registrations, or a lease, grace or warm-up runs out. Reading it
        means a scan of every row, which at thousands of sidecars is not for every tick."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        changed = version != self._data_version or wrote or now >= self._read_by
        self._data_version = version
        return changed

    def _identity(self, pid: str, hello: str) -> Identity | None:
        """The identity in a stored hello, parsed once per hello text (None: malformed)."""
        cached = self._parsed.get(pid)
        if cached is not None and cached[0] == hello:
            return cached[1]
        try:
            identity = parse_hello(json.loads(hello))
        except ValueError:
            return None
        self._parsed[pid] = (hello, identity)
        return identity

    def _read(self, conn: sqlite3.Connection, now: float) -> None:
        beats = {name: (addr, started, beat) for name, addr, started, beat in
                 conn.execute("SELECT name, address, started, heartbeat FROM replicas")}
        # Our own open registrations are the registry's already and are never expired here:
        # leaving them to SQLite keeps this read (ten times a second) from walking every row
        # in Python when one replica serves thousands of sidecars.
        rows = conn.execute("SELECT proxy_id, hello, replica, token, lost FROM workloads "
                            "WHERE replica != ? OR lost IS NOT NULL", (self.replica,)).fetchall()
        if self._recovered is None:  # the first read: what was there before we started
            self._recovered = {(pid, token) for pid, _, replica, token, _ in rows
                               if replica != self.replica}
            self._beats0 = {name: beat for name, (_, _, beat) in beats.items()}
        warm = now < self.started + self.warmup
        # Read again by the time something here runs out, even if nobody writes (and every few
        # seconds anyway).
        read_by = now + 5.0
        if warm:
            read_by = min(read_by, self.started + self.warmup)
        for name, (_, _, beat) in beats.items():
            if name != self.replica and now - beat < self.lease:
                read_by = min(read_by, beat + self.lease)
        keep: dict[str, Registration] = {}
        waiting: set[tuple[str, int]] = set()
        expired = []
        for pid, hello, replica, token, lost in rows:
            owner = beats.get(replica)
            if lost is None and (owner is None or now - owner[2] >= self.lease):
                lost = owner[2] if owner is not None else 0.0  # its replica died, stream open
            item = (pid, token)
            # Waiting for: found at start-up, still lost, or its replica not heard of since.
            if item in self._recovered and (
                    lost is not None or owner is None or owner[2] == self._beats0.get(replica)):
                waiting.add(item)
            if lost is not None and now >= lost + self.grace and not (warm and item in waiting):
                expired.append(item)
                continue
            if lost is not None:
                read_by = min(read_by, lost + self.grace)
            if replica == self.replica:
                continue  # our own: the registry holds them already
            identity = self._identity(pid, hello)
            if identity is None:
                expired.append(item)
                continue
            keep[pid] = Registration(identity, token, replica)
        self._parsed = {pid: self._parsed[pid] for pid in keep if pid in self._parsed}
        self._recovered = waiting - set(expired)
        self._read_by = read_by
        pending = len(self._recovered) if warm else 0
        if expired:
            conn.executemany("DELETE FROM workloads WHERE proxy_id = ? AND token = ?", expired)
        replicas = [{"name": n, "address": a, "started": s} for n, (a, s, b) in sorted(beats.items())
                    if now - b < self.lease]
        signature = (frozenset((pid, r.token) for pid, r in keep.items()), pending,
                     tuple((r["name"], r["address"]) for r in replicas))
        if signature != self._last:
            self._last = signature
            view = View(keep, pending, replicas)
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._deliver, view)
