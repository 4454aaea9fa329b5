"""Local store: write cost against plain sqlite3, and how fast a watcher in another process sees a write"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench.harness import Figure, interleaved

_WATCHER = textwrap.dedent("""
    import json, sys, time
    from meshtool.store.local import LocalStore
    store = LocalStore(sys.argv[1])
    rev, n = store.revision(), int(sys.argv[2])
    print("ready", flush=True)
    seen = {}
    while len(seen) < n:
        for change in store.watch(rev, timeout=10):
            seen.setdefault(change.revision, time.time())
            rev = change.revision
    cpu0, t0 = time.process_time(), time.monotonic()
    store.watch(rev, timeout=float(sys.argv[3]))  # idle: nothing is written now
    idle_cpu = (time.process_time() - cpu0) / (time.monotonic() - t0)
    print(json.dumps({"seen": seen, "idle_cpu": idle_cpu}))
""")


def _rules(n: int, tag: str):
    from meshtool.model.resource import Resource

    return [Resource("RouteRule", f"r{tag}-{i}", "default",
                     {"destination": {"name": f"svc{i}"},
                      "route": [{"labels": {"version": "v1"}, "weight": 100}]}) for i in range(n)]


def _plain_sqlite(path: Path):
    """The reference: the same rows written with bare sqlite3 in the same journal mode."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (kind, namespace, name, body, revision, created, "
                 "PRIMARY KEY (kind, namespace, name)) WITHOUT ROWID")
    return conn


def run(quick: bool = False) -> list[Figure]:
    from meshtool.store.local import LocalStore

    tmp = Path(tempfile.mkdtemp(prefix="meshtool-bench-store-"))
    store = LocalStore(tmp / "store.db")
    plain = _plain_sqlite(tmp / "plain.db")
    batch = 100
    counter = iter(range(10**9))
    body = json.dumps(_rules(1, "x")[0].spec)

    def store_create():
        store.create(_rules(batch, str(next(counter))))

    def plain_create():
        tag = next(counter)
        plain.execute("BEGIN IMMEDIATE")
        for i in range(batch):
            plain.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
                          ("RouteRule", "default", f"r{tag}-{i}", body, tag, time.time()))
        plain.execute("COMMIT")

    store.create(_rules(1, "hot"))
    plain.execute("INSERT INTO t VALUES ('RouteRule', 'default', 'hot', ?, 0, 0)", (body,))
    hot = _rules(1, "hot")[0]

    def store_replace():
        store.replace([hot])

    def plain_replace():
        plain.execute("BEGIN IMMEDIATE")
        plain.execute("UPDATE t SET body = ?, revision = revision + 1 WHERE name = 'hot'", (body,))
        plain.execute("COMMIT")

    t = interleaved({"store_create": store_create, "plain_create": plain_create,
                     "store_replace": store_replace, "plain_replace": plain_replace},
                    repeat=5 if quick else 30)

    # A watcher in another process; writes spaced out so that each is seen on its own.
    writes = 10 if quick else 40
    watcher = subprocess.Popen([sys.executable, "-c", _WATCHER, str(tmp / "store.db"),
                                str(writes), "1" if quick else "3"],
                               stdout=subprocess.PIPE, text=True)
    assert watcher.stdout.readline().strip() == "ready"
    written = {}
    for _ in range(writes):
        time.sleep(random.uniform(0.02, 0.04))  # no phase lock with the poll interval
        [res] = store.replace([hot])
        written[str(res.revision)] = time.time()
    out, _ = watcher.communicate(timeout=60)
    report = json.loads(out)
    lat = [report["seen"][rev] - at for rev, at in written.items()]
    median_ms = statistics.median(lat) * 1000
    poll_ms = store.poll_interval * 1000
    store.close()
    plain.close()
    return [
        Figure(f"store.create, {batch} rules in one transaction", t["store_create"], "s",
               f"bare sqlite3: {batch} INSERTs in one transaction", t["plain_create"],
               notes="includes existence checks, the change log and JSON bodies"),
        Figure("store.replace, one rule (one transaction)", t["store_replace"], "s",
               "bare sqlite3: one UPDATE in one transaction", t["plain_replace"],
               notes="both WAL with synchronous=FULL: one fsync per commit dominates"),
        Figure("watch latency, write -> watcher in another process (median)", median_ms, "ms",
               "the poll interval", poll_ms, target="<= 1.5x", met=median_ms <= 1.5 * poll_ms,
               notes=f"{writes} writes; max {max(lat) * 1000:.1f} ms"),
        Figure("idle watcher CPU (polling)", report["idle_cpu"] * 100, "% of a core",
               notes="one indexed read of the revision every poll interval"),
    ]
