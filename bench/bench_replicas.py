"""Control-plane replicas: two control planes on one store serving a fleet split between them

What issue 13 asks of replicas at scale, measured side by side in one run:
- propagation: from a store write returning until every proxy, on both replicas, has ACKed the
  snapshot that carries it (each replica's own sync table gives its last ACK time, so the
  polling that waits for the end does not enter the figure); reference: the same fleet size on
  one control plane, in the same run;
- `meshtool proxy-status` given one replica (it finds the other through the store's shared
  registrations) listing every proxy of both, as a user runs it; reference: `meshtool --version`;
- control-plane memory per proxy: both replicas' resident memory growth over the fleet size.

The simulated proxies (meshtool/testing/simulate.py) run in two processes of their own, one per
replica; every proxy is also an endpoint, so each snapshot lists the whole fleet.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_propagation import percentile, proxy_status_time, write_split
from bench.harness import Figure, rss_kib
from meshtool.store import open_store
from meshtool.testing.processes import ControlPlaneProcess, SimulatedFleet


def _all_synced(count: int, prefix: str | None = None):
    def check(t: dict) -> bool:
        return (t["proxies"] >= count and t["statuses"] == {"SYNCED": t["proxies"]}
                and (prefix is None or t["version"].startswith(prefix)))
    return check


def propagation(cps: list[tuple[ControlPlaneProcess, int]], store_path: Path, changes: int,
                timeout: float = 60.0) -> list[float]:
    """For each of `changes` writes: seconds until the last proxy of every (replica, its proxy
    count) pair ACKed it."""
    latencies = []
    with open_store(str(store_path)) as store:
        for i in range(changes):
            revision = write_split(store, i + 1)
            written = time.time()
            last = max(cp.wait_for(_all_synced(n, f"{revision}."), timeout, interval=0.05,
                                   summary=True)["lastAck"] for cp, n in cps)
            latencies.append(last - written)
            time.sleep(0.05)
    return latencies


def run(quick: bool = False) -> list[Figure]:
    count = 1000 if quick else 10_000
    changes = 5 if quick else 20
    half = count // 2
    tmp = Path(tempfile.mkdtemp(prefix="meshtool-bench-replicas-"))
    try:
        # Reference: the whole fleet on one control plane.
        db = tmp / "one.db"
        with ControlPlaneProcess(db, log=tmp / "cp-one.log") as cp, \
                SimulatedFleet(cp.address, count, prefix="one", log=tmp / "fleet-one.log",
                               inbound_base=20000) as fleet:
            cp.wait_for(_all_synced(count), 300, interval=0.2, summary=True)
            time.sleep(1.0)
            single = propagation([(cp, count)], db, changes)
            fleet.stop()

        db = tmp / "two.db"
        with ControlPlaneProcess(db, log=tmp / "cp-a.log", args=("--id", "cp-a")) as a, \
                ControlPlaneProcess(db, log=tmp / "cp-b.log", args=("--id", "cp-b")) as b:
            idle = rss_kib(a.proc.pid) + rss_kib(b.proc.pid)
            t0 = time.perf_counter()
            with SimulatedFleet(a.address, half, prefix="a", log=tmp / "fleet-a.log",
                                inbound_base=20000) as fa, \
                    SimulatedFleet(b.address, count - half, prefix="b", log=tmp / "fleet-b.log",
                                   inbound_base=20000 + half) as fb:
                for cp, n in ((a, half), (b, count - half)):
                    cp.wait_for(_all_synced(n), 300, interval=0.2, summary=True)
                connected = time.perf_counter() - t0
                time.sleep(1.0)
                loaded = rss_kib(a.proc.pid) + rss_kib(b.proc.pid)
                lat = propagation([(a, half), (b, count - half)], db, changes)
                ps_time, version_time = proxy_status_time(a.address, 3, expect=count)
                fa.stop()
                fb.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    p50, p99 = percentile(lat, 50), percentile(lat, 99)
    note = (f"{count} simulated proxies, {half} on each replica (every proxy an endpoint, 10 "
            f"services); {changes} rule changes one at a time; all connected and synced "
            f"{connected:.1f} s after launch; machine load {os.getloadavg()[0]:.1f}")
    target = count >= 10_000
    return [
        Figure(f"propagation p50, 2 replicas, {count} proxies", p50, "s",
               f"1 control plane, {count} proxies, p50", percentile(single, 50), notes=note),
        Figure(f"propagation p99, 2 replicas, {count} proxies", p99, "s",
               f"1 control plane, {count} proxies, p99", percentile(single, 99),
               target="< 2 s" if target else None, met=(p99 < 2.0) if target else None),
        Figure(f"meshtool proxy-status over 2 replicas, {count} proxies", ps_time, "s",
               "meshtool --version", version_time, target="< 1 s" if target else None,
               met=(ps_time < 1.0) if target else None,
               notes="medians of 3; given one replica, the other found through the store"),
        Figure(f"control-plane memory per proxy, 2 replicas ({count})",
               (loaded - idle) / count, "KiB",
               notes=f"both replicas' RSS: {idle / 1024:.0f} MiB idle, {loaded / 1024:.0f} MiB "
                     f"with the fleet"),
    ]


if __name__ == "__main__":
    for f in run(quick="--quick" in sys.argv):
        print(f)
    os._exit(0)
