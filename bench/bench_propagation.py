"""Control plane: push propagation, memory per proxy, proxy-status time

Propagation is the time from a store write returning until every proxy has ACKed the snapshot
that carries it, read from the control plane's own sync table (the ACK arrival times), so the
polling that waits for the end does not enter the figure. Each is compared with the same
measurement for a single proxy in the same run: the ratio is what the fleet size costs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import Figure, rss_kib
from meshtool.testing.processes import ControlPlaneProcess, SimulatedFleet
from meshtool.model.resource import Resource
from meshtool.store import open_store


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _rule(i: int) -> Resource:
    weight = i % 101
    route = [{"labels": {"version": "v1"}, "weight": 100 - weight},
             {"labels": {"version": "v2"}, "weight": weight}]
    return Resource("RouteRule", "bench-split", "default",
                    {"destination": {"name": "sim-svc0"},
                     "route": [r for r in route if r["weight"]]})


def write_split(store, i: int) -> int:
    """The i-th version of the bench's route rule, created or replaced; its store revision."""
    try:
        store.get("RouteRule", "default", "bench-split")
        return store.replace([_rule(i)])[0].revision
    except Exception:  # noqa: BLE001 - first round: it does not exist yet
        return store.create([_rule(i)])[0].revision


def propagation(cp: ControlPlaneProcess, store_path: Path, count: int, changes: int,
                timeout: float = 30.0) -> list[float]:
    """Write `changes` revisions one after another; for each, seconds from the write returning
    until the last of `count` proxies ACKed it."""
    latencies = []
    with open_store(str(store_path)) as store:
        for i in range(changes):
            revision = write_split(store, i + 1)
            written = time.time()
            prefix = f"{revision}."

            def done(t: dict) -> bool:
                return (t["proxies"] >= count and t["version"].startswith(prefix)
                        and t["statuses"] == {"SYNCED": t["proxies"]})

            summary = cp.wait_for(done, timeout, interval=0.05, summary=True)
            latencies.append(summary["lastAck"] - written)
            time.sleep(0.05)
    return latencies


def _port_block(n: int) -> list[int]:
    """n free ports below the ephemeral range (so that no outgoing connection takes one while
    the sidecars start)."""
    import random
    import socket

    for _ in range(50):
        base = random.randrange(21000, 32000 - n)
        ports = list(range(base, base + n))
        try:
            for p in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return ports
    raise RuntimeError(f"no block of {n} free ports")


class SidecarFleet:
    """`count` real sidecars (`meshtool proxy run --control-plane ...`), each its own process.
    Their app port has no app behind it: only the configuration path is exercised."""

    def __init__(self, address: str, count: int, logs: Path):
        self.procs: list[subprocess.Popen] = []
        self.argvs = []
        ports = _port_block(4 * count)
        for i in range(count):
            app, inbound, outbound, admin = ports[4 * i:4 * i + 4]
            self.argvs.append([sys.executable, "-m", "meshtool", "proxy", "run", "--control-plane",
                               address, "--service", f"svc{i % 10}", "--label",
                               f"version=v{i % 2 + 1}", "--proxy-id", f"sidecar-{i}.default",
                               "--app-port", str(app), "--inbound-port", str(inbound),
                               "--outbound-port", str(outbound), "--admin-port", str(admin)])
        self.logs = logs

    def __enter__(self) -> "SidecarFleet":
        for i, argv in enumerate(self.argvs):
            log = open(self.logs / f"sidecar-{i}.log", "wb")
            self.procs.append(subprocess.Popen(argv, stdout=log, stderr=log))
        return self

    def rss_mib(self) -> float:
        return sum(rss_kib(p.pid) for p in self.procs) / 1024 / max(len(self.procs), 1)

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def real_sidecars(tmp: Path, count: int, changes: int) -> tuple[list[float], float, float]:
    """Propagation to `count` real sidecars; also their start-to-synced time and mean RSS."""
    db = tmp / f"real{count}.db"
    with ControlPlaneProcess(db, log=tmp / f"cp-real{count}.log") as cp:
        t0 = time.perf_counter()
        with SidecarFleet(cp.address, count, tmp) as fleet:
            cp.wait_for(lambda t: t["proxies"] == count and t["statuses"] == {"SYNCED": count},
                        60 + 3 * count, interval=0.2, summary=True)
            started = time.perf_counter() - t0
            time.sleep(1.0)
            lat = propagation(cp, db, count, changes)
            rss = fleet.rss_mib()
    return lat, started, rss


def proxy_status_time(address: str, repeat: int,
                      expect: int | None = None) -> tuple[float, float]:
    """Medians of the whole `meshtool proxy-status` command and of `meshtool --version`;
    with `expect`, the table must list that many proxies."""
    exe = Path(sys.executable).with_name("meshtool")
    mt = [str(exe)] if exe.exists() else [sys.executable, "-m", "meshtool"]
    status, version = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = subprocess.run([*mt, "proxy-status", "--control-plane", address], check=True,
                             capture_output=True, text=True).stdout
        status.append(time.perf_counter() - t0)
        if expect is not None and len(out.splitlines()) - 1 != expect:
            raise RuntimeError(f"proxy-status listed {len(out.splitlines()) - 1} proxies, "
                               f"not {expect}")
        t0 = time.perf_counter()
        subprocess.run([*mt, "--version"], check=True, stdout=subprocess.DEVNULL)
        version.append(time.perf_counter() - t0)
    return statistics.median(status), statistics.median(version)


def run(quick: bool = False) -> list[Figure]:
    count = 200 if quick else 1000
    changes = 10 if quick else 50
    tmp = Path(tempfile.mkdtemp(prefix="meshtool-bench-prop-"))
    figures: list[Figure] = []
    try:
        # Reference: one proxy.
        with ControlPlaneProcess(tmp / "one.db", log=tmp / "cp-one.log") as cp, \
                SimulatedFleet(cp.address, 1, prefix="one", log=tmp / "fleet-one.log"):
            one = propagation(cp, tmp / "one.db", 1, changes)
        one_p50, one_p99 = percentile(one, 50), percentile(one, 99)

        with ControlPlaneProcess(tmp / "fleet.db", log=tmp / "cp.log") as cp:
            idle = rss_kib(cp.proc.pid)
            t0 = time.perf_counter()
            with SimulatedFleet(cp.address, count, log=tmp / "fleet.log", services=10,
                                inbound_base=20000) as fleet:
                cp.wait_for(lambda t: len(t["proxies"]) == count
                            and all(p["status"] == "SYNCED" for p in t["proxies"]), 120)
                connect_time = time.perf_counter() - t0
                time.sleep(1.0)
                loaded = rss_kib(cp.proc.pid)
                lat = propagation(cp, tmp / "fleet.db", count, changes)
                ps_time, version_time = proxy_status_time(cp.address, 3 if quick else 5)
                size = len(cp.sync_table()["proxies"])
                fleet.stop()
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        per_proxy = (loaded - idle) / count
        snap_note = (f"{count} simulated proxies in one process (10 services, every proxy an "
                     f"endpoint, so each snapshot lists {count} endpoints); {changes} changes, one "
                     f"at a time; reference: the same with 1 proxy")
        figures += [
            Figure(f"propagation p50, {count} simulated proxies", p50, "s",
                   "1 proxy p50", one_p50, notes=snap_note),
            Figure(f"propagation p99, {count} simulated proxies", p99, "s",
                   "1 proxy p99", one_p99, target="< 2 s" if count >= 1000 else None,
                   met=(p99 < 2.0) if count >= 1000 else None),
            Figure(f"control plane memory per connected proxy ({count})", per_proxy, "KiB",
                   notes=f"RSS {idle / 1024:.0f} MiB idle, {loaded / 1024:.0f} MiB with {count} "
                         f"proxies; {count} proxies connected and synced in "
                         f"{connect_time:.1f} s"),
            Figure(f"meshtool proxy-status, {size} proxies", ps_time, "s",
                   "meshtool --version", version_time, target="< 1 s", met=ps_time < 1.0,
                   notes="medians; whole command: start-up, HTTP fetch of the sync table, table"),
        ]
        for n in (10,) if quick else (10, 100):
            lat, started, rss = real_sidecars(tmp, n, changes)
            p50, p99 = percentile(lat, 50), percentile(lat, 99)
            note = (f"{n} `meshtool proxy run` processes (each compiles and swaps the snapshot "
                    f"before it ACKs); all connected and synced {started:.1f} s after launch; "
                    f"mean sidecar RSS {rss:.0f} MiB")
            figures += [
                Figure(f"propagation p50, {n} real sidecars", p50, "s", "1 proxy p50", one_p50,
                       notes=note),
                Figure(f"propagation p99, {n} real sidecars", p99, "s", "1 proxy p99", one_p99,
                       target="< 200 ms" if n == 100 else None,
                       met=(p99 < 0.2) if n == 100 else None),
            ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return figures


if __name__ == "__main__":
    for f in run(quick="--quick" in sys.argv):
        print(f)
    os._exit(0)
