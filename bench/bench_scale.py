"""Control plane at scale: incremental push against the state-of-the-world mode, 1k to 10k proxies

The same control plane serves the same simulated fleet (meshtool.testing.simulate: every proxy
an endpoint of one of 10 services, so the mesh has N endpoints) in two modes, side by side:
`delta` (current sidecars: deltas, zlib, the send window) and `sotw` (the fleet speaks the old
protocol: the whole snapshot to every proxy on every change). Per fleet size and mode:

- all synced: from launching the fleet until every proxy has ACKed (includes the simulator's
  own start-up);
- rule-change propagation: from a store write returning until the last proxy ACKed it
  (the control plane's own ACK times);
- endpoint-change propagation: from the control plane seeing a proxy join or leave until the
  last proxy ACKed the new endpoint set;
- control-plane peak RSS (VmHWM), CPU per rule-change round (the control plane's user+system
  time over the changes, less the cost of the polls that watch them, per change), bytes
  written per rule change.

CPU figures are process CPU times read from /proc/PID/stat of each child: the control plane
(`python -m meshtool control-plane`, its own process) and, apart, the simulated fleet (one
process holding all N proxies, on the same 2 cores). The fleet's CPU per round is reported
beside the control plane's: the latencies are those of both processes sharing the machine.

Run one point: `python -m bench.bench_scale --count 1000 --mode delta --repeat 3`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_propagation import percentile, write_split
from bench.harness import Figure
from meshtool.testing.processes import ControlPlaneProcess, SimulatedFleet
from meshtool.store import open_store

MODES = ("delta", "sotw")


def _proc_status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Poller:
    """Polls the control plane's summary and counts the polls (their CPU is not the push's)."""

    def __init__(self, cp: ControlPlaneProcess, interval: float):
        self.cp, self.interval, self.polls = cp, interval, 0

    def wait(self, predicate, timeout: float) -> dict:
        def counted(t: dict) -> bool:
            self.polls += 1
            return predicate(t)
        return self.cp.wait_for(counted, timeout, interval=self.interval, summary=True)


def _synced(count: int, prefix: str | None = None):
    def check(t: dict) -> bool:
        return (t["proxies"] >= count and t["statuses"] == {"SYNCED": t["proxies"]}
                and (prefix is None or (t["version"] or "").startswith(prefix)))
    return check


def measure(count: int, mode: str, changes: int = 20, endpoint_changes: int = 6,
            tmp: Path | None = None) -> dict:
    own_tmp = tmp is None
    tmp = tmp or Path(tempfile.mkdtemp(prefix=f"meshtool-bench-scale-{os.getpid()}-"))
    db = tmp / f"{mode}{count}.db"
    timeout = 120 + count / 50
    out: dict = {"count": count, "mode": mode, "load": os.getloadavg()[0], "changes": changes}
    try:
        with ControlPlaneProcess(db, args=("--grace", "200ms"),
                                 log=tmp / f"cp-{mode}{count}.log") as cp:
            poll = Poller(cp, 0.1)
            t0, sync_c0 = time.perf_counter(), _cpu(cp.proc.pid)
            with SimulatedFleet(cp.address, count, log=tmp / f"fleet-{mode}{count}.log",
                                services=10, sotw=mode == "sotw").start(wait=False) as fleet:
                poll.wait(_synced(count), timeout)
                out["synced_s"] = time.perf_counter() - t0
                out["sync_cpu"] = _cpu(cp.proc.pid) - sync_c0
                out["fleet_sync_cpu"] = _cpu(fleet.proc.pid)
                time.sleep(1.0)
                # What a poll costs the control plane, to leave it out of the CPU per round.
                c0, p0 = _cpu(cp.proc.pid), poll.polls
                for _ in range(10):
                    poll.wait(lambda t: True, 5)
                poll_cpu = (_cpu(cp.proc.pid) - c0) / max(poll.polls - p0, 1)

                lat, bytes_per, cpu, fleet_cpu = [], [], [], []
                with open_store(str(db)) as store:
                    for i in range(changes):
                        b0, c0, p0 = poll.wait(lambda t: True, 5)["bytesSent"], _cpu(cp.proc.pid), poll.polls
                        f0 = _cpu(fleet.proc.pid)
                        revision = write_split(store, i + 1)
                        written = time.time()
                        t = poll.wait(_synced(count, f"{revision}."), timeout)
                        lat.append(t["lastAck"] - written)
                        bytes_per.append(t["bytesSent"] - b0)
                        cpu.append(_cpu(cp.proc.pid) - c0 - (poll.polls - p0) * poll_cpu)
                        fleet_cpu.append(_cpu(fleet.proc.pid) - f0)
                        time.sleep(0.05)
                out.update(rule_p50=percentile(lat, 50), rule_p99=percentile(lat, 99),
                           bytes_per_change=statistics.median(bytes_per),
                           cpu_per_round=statistics.median(cpu), poll_cpu=poll_cpu,
                           fleet_cpu_per_round=statistics.median(fleet_cpu))

                ep = []
                for i in range(endpoint_changes // 2):
                    joiner = SimulatedFleet(cp.address, 1, prefix=f"join{i}", services=1,
                                            inbound_base=40000 + i, sotw=mode == "sotw")
                    joiner.start(timeout=timeout)
                    t = poll.wait(_synced(count + 1), timeout)
                    ep.append(t["lastAck"] - t["changedAt"])
                    joined = t["changedAt"]
                    joiner.stop()  # its endpoint goes after the grace period
                    t = poll.wait(lambda t: t["proxies"] == count and _synced(count)(t)
                                  and t["changedAt"] > joined and t["lastAck"]
                                  and t["lastAck"] > t["changedAt"], timeout)
                    ep.append(t["lastAck"] - t["changedAt"])
                out.update(endpoint_p50=percentile(ep, 50), endpoint_p99=percentile(ep, 99),
                           peak_rss_mib=_proc_status(cp.proc.pid, "VmHWM") / 1024,
                           inflight_peak_mib=t["inflightPeak"] / 2 ** 20)
                fleet.stop()
    finally:
        if own_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def median_of(runs: list[dict]) -> dict:
    """Medians of the numeric figures (a figure older runs lack: over the runs that have it)."""
    keys = {k for r in runs for k, v in r.items() if isinstance(v, (int, float)) and k != "count"}
    return {**runs[0], **{k: statistics.median(r[k] for r in runs if k in r) for k in keys},
            "runs": len(runs)}


def _cpu_figures(n: int, d: dict, s: dict) -> list[Figure]:
    """The control plane's CPU to sync everyone, and the simulated fleet's CPU per round (the
    other process on the same cores: what the latencies also wait for)."""
    out = []
    if "sync_cpu" in d:
        out.append(Figure(f"{n} proxies: control-plane CPU to sync all", d["sync_cpu"], "s",
                          "state of the world", s.get("sync_cpu"),
                          notes=f"fleet (simulator) CPU meanwhile {d['fleet_sync_cpu']:.1f} s"))
    if "fleet_cpu_per_round" in d:
        out.append(Figure(f"{n} proxies: simulated fleet's CPU per rule-change round",
                          d["fleet_cpu_per_round"], "s", "state of the world",
                          s.get("fleet_cpu_per_round"),
                          notes="not the control plane's: the one simulator process applying "
                                "and ACKing for all N proxies, on the same 2 cores"))
    return out


def figures(runs: list[dict]) -> list[Figure]:
    """Figures from measurements (several runs per size and mode: their medians), with the
    growth exponent of each figure between the smallest and the largest fleet."""
    sizes = sorted({r["count"] for r in runs})
    med = {(n, mode): median_of([r for r in runs if r["count"] == n and r["mode"] == mode])
           for n in sizes for mode in MODES
           if any(r["count"] == n and r["mode"] == mode for r in runs)}
    out: list[Figure] = []
    for n in sizes:
        d, s = med[(n, "delta")], med[(n, "sotw")]
        p99_target = 0.1 if n <= 1000 else 1.0
        loads = sorted(r["load"] for r in runs if r["count"] == n)
        note = (f"median of {d['runs']} runs per mode, the modes alternating; 1-minute load "
                f"average {loads[0]:.1f} to {loads[-1]:.1f} at the starts (2 cores shared with "
                f"4 other engineers' work); {d.get('changes', 20)} rule changes per run")
        big = n >= 10000
        out += [
            Figure(f"{n} proxies: all synced", d["synced_s"], "s", "state of the world",
                   s["synced_s"], target="< 10 s" if big else None,
                   met=d["synced_s"] < 10 if big else None, notes=note),
            Figure(f"{n} proxies: rule change p50", d["rule_p50"], "s", "state of the world",
                   s["rule_p50"]),
            Figure(f"{n} proxies: rule change p99", d["rule_p99"], "s", "state of the world",
                   s["rule_p99"], target=f"< {p99_target * 1000:g} ms" if n <= 1000 or big
                   else None, met=d["rule_p99"] < p99_target if n <= 1000 or big else None),
            Figure(f"{n} proxies: endpoint change p50", d["endpoint_p50"], "s",
                   "state of the world", s["endpoint_p50"]),
            Figure(f"{n} proxies: endpoint change p99", d["endpoint_p99"], "s",
                   "state of the world", s["endpoint_p99"], target="< 1 s" if big else None,
                   met=d["endpoint_p99"] < 1 if big else None),
            Figure(f"{n} proxies: control plane peak RSS", d["peak_rss_mib"], "MiB",
                   "state of the world", s["peak_rss_mib"], target="< 1024 MiB" if big else None,
                   met=d["peak_rss_mib"] < 1024 if big else None),
            Figure(f"{n} proxies: CPU per rule-change round", d["cpu_per_round"], "s",
                   "state of the world", s["cpu_per_round"], target="< 0.5 s" if big else None,
                   met=d["cpu_per_round"] < 0.5 if big else None,
                   notes=f"{d['cpu_per_round'] / n * 1e6:.0f} µs of control-plane CPU per proxy "
                         f"per round with deltas ({s['cpu_per_round'] / n * 1e6:.0f} µs with "
                         f"whole snapshots): the delta is encoded once, what remains per proxy "
                         f"is its frame's send and its ACK's receipt"),
            Figure(f"{n} proxies: bytes sent per rule change", d["bytes_per_change"] / 1024,
                   "KiB", "state of the world", s["bytes_per_change"] / 1024),
            *_cpu_figures(n, d, s),
        ]
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        for key, what in (("synced_s", "all synced"), ("rule_p99", "rule change p99"),
                          ("endpoint_p99", "endpoint change p99"),
                          ("cpu_per_round", "CPU per round"),
                          ("bytes_per_change", "bytes per rule change"),
                          ("peak_rss_mib", "peak RSS")):
            k = {mode: _exponent(med[(lo, mode)][key], med[(hi, mode)][key], lo, hi)
                 for mode in MODES}
            out.append(Figure(f"growth exponent of {what}, {lo} to {hi} proxies", k["delta"],
                              "", "state of the world", k["sotw"],
                              notes="k in value ~ N^k, from the medians at both ends: 1 is "
                                    "linear in the fleet (N), 2 is N x E with every proxy an "
                                    "endpoint" if key == "synced_s" else ""))
    return out


def _exponent(a: float, b: float, n1: int, n2: int) -> float:
    import math

    if a <= 0 or b <= 0:
        return float("nan")
    return math.log(b / a) / math.log(n2 / n1)


def run(quick: bool = False) -> list[Figure]:
    sizes = (200,) if quick else (1000, 2000, 5000, 10000)
    repeat = 1 if quick else 3
    runs = [measure(n, mode, changes=5 if quick else (10 if n >= 10000 else 20))
            for n in sizes for _ in range(repeat) for mode in MODES]
    return figures(runs)


def report(path: str) -> str:
    """The RESULTS.md section of the measurements in a JSON-lines file (one measure a line),
    merged into bench/RESULTS.md."""
    from bench.__main__ import RESULTS, merge, render

    runs = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    text = render({(__doc__ or "").strip().splitlines()[0]: figures(runs)})
    RESULTS.write_text(merge(RESULTS.read_text() if RESULTS.exists() else "", text) + "\n")
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_scale")
    ap.add_argument("--count", type=int, action="append")
    ap.add_argument("--report", metavar="JSONL",
                    help="write the section of these measurements into bench/RESULTS.md")
    ap.add_argument("--mode", choices=MODES, action="append")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--changes", type=int, default=20)
    args = ap.parse_args(argv)
    if args.report:
        print(report(args.report))
        return 0
    for n in args.count or ():
        for _ in range(args.repeat):
            for mode in args.mode or MODES:  # interleaved: drift hits both modes
                print(json.dumps(measure(n, mode, changes=args.changes)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
