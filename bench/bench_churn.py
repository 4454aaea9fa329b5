"""Endpoint churn across two clusters: push propagation while 100 pods a second change and a rule flips every second

Issue 13's churn benchmark, on two real API servers (two etcd + kube-apiserver pairs): the control
plane runs in Kubernetes mode against cluster 1 (`--store kubernetes --cluster-name cluster1`:
rules are CRD objects, endpoints the Ready pods of every cluster), cluster 2 joins through the
Secret the real `meshtool create-remote-secret` prints, applied in meshtool-system of cluster 1.
The same 10 services exist in both clusters; their pods are split between the clusters. A fleet of
simulated proxies (meshtool.testing.simulate, one process) is connected to the control plane.

Two phases in one run, on the same clusters, control plane and fleet:
- quiet (the reference): a route-rule weight flip (a CRD patch) every second, and half a second
  later one pod's readiness flipped: nothing else changes;
- churn: the same rule flips every second while pods' readiness is flipped at 100 changes a
  second, half in each cluster (a status patch per change, what the kubelet writes when a
  pod's readiness probe passes or fails; the control plane watches Pods, so each is an
  endpoint joining or leaving).

Propagation is timed from the moment the write is sent to the API server until a simulated
proxy has applied (and is about to ACK) a snapshot holding the change: a rule change once the
snapshot's version carries the rule's store revision, a pod change once the pod's address is in
(or out of) its service's endpoints. The simulated fleet records when every 10th proxy applied
which version (simulate --trace); each change's figure is its time to the last traced proxy.

Run one point: `python -m bench.bench_churn --proxies 1000 --pods 200 --rate 100 --seconds 40`.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.bench_propagation import percentile
from bench.harness import Figure, rss_kib
from meshtool.testing.processes import ControlPlaneProcess, SimulatedFleet

NAMESPACE = "churn"
SERVICES = 10
RULE = "churn-split"
CLUSTERS = ("cluster1", "cluster2")
GROUP, VERSION, PLURAL = "config.meshtool.io", "v1alpha1", "routerules"


@dataclass
class Write:
    """One change sent to an API server: a pod's readiness, or the rule's weights."""
    sent: float  # wall time the request was sent
    kind: str  # "pod" or "rule"
    phase: str  # "quiet" or "churn"
    service: str = ""  # pod: NS/NAME of its service
    address: str = ""  # pod: its IP
    ready: bool = False  # pod: Ready after the write
    revision: int = 0  # rule: the store revision the write made


def pod_ip(cluster: int, i: int) -> str:
    return f"10.{cluster + 1}.{i // 250}.{i % 250 + 1}"


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds of each part of the set-up (the control plane, the simulated fleet, the API
    servers with their etcds, this process's writers), to say where the cores went."""

    def __init__(self, parts: dict[str, list[int]]):
        self.parts = parts
        self._t0, self._c0 = time.time(), self._read()

    def _read(self) -> dict[str, float]:
        import resource

        out = {name: sum(_cpu(pid) for pid in pids) for name, pids in self.parts.items()}
        own = resource.getrusage(resource.RUSAGE_SELF)
        out["writers"] = own.ru_utime + own.ru_stime
        return out

    def shares(self) -> dict[str, float]:
        """Cores used by each part since the meter was made (1.0: one whole core)."""
        now, c = time.time(), self._read()
        return {k: (c[k] - self._c0[k]) / (now - self._t0) for k in c}


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


# -- the clusters ----------------------------------------------------------------------------


def populate(api_client, pods: int, cluster: int) -> list[tuple[str, str, str]]:
    """The churn namespace with its services and `pods` Ready pods (their service, name, IP)."""
    from kubernetes import client

    from meshtool.testing.kubecluster import create_namespace, pod_status

    core = client.CoreV1Api(api_client)
    create_namespace(api_client, NAMESPACE)
    for k in range(SERVICES):
        core.create_namespaced_service(NAMESPACE, {
            "metadata": {"name": f"svc{k}"},
            "spec": {"selector": {"app": f"svc{k}"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    out = []
    for i in range(pods):
        name, svc, ip = f"svc{i % SERVICES}-c{cluster + 1}-{i}", f"svc{i % SERVICES}", \
            pod_ip(cluster, i)
        core.create_namespaced_pod(NAMESPACE, {
            "metadata": {"name": name, "labels": {"app": svc, "version": f"v{i % 2 + 1}"}},
            "spec": {"containers": [{"name": "app", "image": "meshtool-bench/app:1"}]}},
            _preload_content=False)
        core.patch_namespaced_pod_status(name, NAMESPACE, {"status": pod_status(ip, True)},
                                         _preload_content=False)
        out.append((f"{NAMESPACE}/{svc}", name, ip))
    return out


def rule_body(i: int) -> dict:
    weight = 100 if i % 2 else 0
    return {"spec": {"destination": {"name": "svc0"},
                     "route": [{"labels": {"version": "v1"}, "weight": 100 - weight},
                               {"labels": {"version": "v2"}, "weight": weight}]}}


class Churner:
    """Flips pods' readiness at `rate` changes a second from worker threads (each with its own
    API client), in a random order that visits every pod before any twice; records each write."""

    def __init__(self, kubeconfig: Path, pods: list[tuple[str, str, str]], rate: float,
                 workers: int = 3):
        self.kubeconfig, self.pods, self.rate, self.workers = kubeconfig, pods, rate, workers
        self.ready = {name: True for _, name, _ in pods}
        self.writes: list[Write] = []
        self.errors = 0
        self._lock = threading.Lock()
        self._next = 0
        # one random order, cycled: each pod changes every len(pods) / rate seconds, never
        # twice in a row (two changes of one pod within a push would hide the first)
        self._order = random.sample(range(len(pods)), len(pods))

    def _slot(self) -> tuple[int, tuple[str, str, str], bool] | None:
        with self._lock:
            if self._stop_at <= time.time():
                return None
            k = self._next
            self._next += 1
            pod = self.pods[self._order[k % len(self._order)]]
            self.ready[pod[1]] = not self.ready[pod[1]]
            return k, pod, self.ready[pod[1]]

    def _work(self) -> None:
        from kubernetes import client, config

        from meshtool.testing.kubecluster import pod_status

        core = client.CoreV1Api(config.new_client_from_config(config_file=str(self.kubeconfig)))
        while (slot := self._slot()) is not None:
            k, (service, name, ip), ready = slot
            delay = self._start + k / self.rate - time.time()
            if delay > 0:
                time.sleep(delay)
            sent = time.time()
            try:
                core.patch_namespaced_pod_status(name, NAMESPACE,
                                                 {"status": pod_status(ip, ready)},
                                                 _preload_content=False)
            except Exception:  # noqa: BLE001 - counted; the figure says how many failed
                with self._lock:
                    self.errors += 1
                    self.ready[name] = not ready  # not written: the pod stays as it was
                continue
            with self._lock:
                self.writes.append(Write(sent, "pod", "churn", service, ip, ready))
        core.api_client.close()

    def run(self, seconds: float) -> None:
        self._start = time.time()
        self._stop_at = self._start + seconds
        threads = [threading.Thread(target=self._work, daemon=True) for _ in range(self.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


# -- the trace -------------------------------------------------------------------------------


class Trace:
    """The simulated fleet's record (simulate.ApplyTrace): per traced proxy its applies in time
    order, and per version its endpoint addresses by service."""

    def __init__(self, path: Path):
        self.applies: dict[int, tuple[list[float], list[str]]] = {}
        self.endpoints: dict[str, dict[str, frozenset]] = {}
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if "endpoints" in rec:
                self.endpoints[rec["v"]] = {s: frozenset(a) for s, a in rec["endpoints"].items()}
            else:
                times, versions = self.applies.setdefault(rec["p"], ([], []))
                times.append(rec["t"])
                versions.append(rec["v"])

    def latency(self, write: Write, horizon: float = 30.0) -> float | None:
        """Seconds from the write until the last traced proxy applied a snapshot holding it
        (None: some proxy did not within `horizon`)."""
        worst = 0.0
        for times, versions in self.applies.values():
            found = None
            for j in range(bisect.bisect_right(times, write.sent), len(times)):
                if times[j] > write.sent + horizon:
                    break
                if self._holds(versions[j], write):
                    found = times[j] - write.sent
                    break
            if found is None:
                return None
            worst = max(worst, found)
        return worst

    def _holds(self, version: str, write: Write) -> bool:
        if write.kind == "rule":
            return int(version.partition(".")[0]) >= write.revision
        present = write.address in self.endpoints[version].get(write.service, ())
        return present == write.ready


# -- one run ---------------------------------------------------------------------------------


def _config_dump(address: str) -> dict:
    with urllib.request.urlopen(f"http://{address}/debug/config_dump", timeout=10) as r:
        return json.load(r)


def _pushes(address: str) -> int:
    """Pushes the control plane has computed and sent (its metrics; a burst counts once)."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("meshtool_controlplane_pushes_total "):
                return int(float(line.split()[1]))
    return 0


def _endpoint_count(address: str) -> int:
    return sum(len(s["endpoints"]) for s in _config_dump(address)["snapshot"]["services"])


def measure(proxies: int, pods: int, rate: float, seconds: float, rule_changes: int,
            tmp: Path, trace_every: int = 10) -> dict:
    from kubernetes import client

    from meshtool.kube.crds import committed_crds, wait_established
    from meshtool.testing.kubecluster import (create_namespace, kube_cluster, pod_status,
                                              remote_secret)
    from meshtool.testing.wait import wait_for

    out: dict = {"proxies": proxies, "pods": pods, "rate": rate, "load": os.getloadavg()[0]}
    with contextlib.ExitStack() as stack:
        clusters = []
        for name in CLUSTERS:
            (tmp / name).mkdir()
            clusters.append(stack.enter_context(kube_cluster(tmp / name)))
        one, two = clusters
        extensions = client.ApiextensionsV1Api(one.api_client)
        for manifest in committed_crds():
            extensions.create_custom_resource_definition(manifest)
        wait_established(one.api_client, timeout=60)
        per_cluster = pods // 2
        pod_sets = [populate(c.api_client, per_cluster, i) for i, c in enumerate(clusters)]
        custom = client.CustomObjectsApi(one.api_client)
        custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "RouteRule",
            "metadata": {"name": RULE, "namespace": NAMESPACE}, **rule_body(0)})
        # cluster 2 joins as a user joins it: the remote secret, applied in meshtool-system
        create_namespace(one.api_client, "meshtool-system")
        client.CoreV1Api(one.api_client).create_namespaced_secret(
            "meshtool-system", remote_secret(two, "cluster2"))

        cp = ControlPlaneProcess("kubernetes", log=tmp / "cp.log", args=(
            "--kubeconfig", str(one.kubeconfig), "--context", "meshtool-test",
            "--cluster-name", "cluster1", "-n", NAMESPACE, "--id", "cp"))
        stack.enter_context(cp.start(timeout=60))
        trace_path = tmp / "trace.jsonl"
        fleet = SimulatedFleet(cp.address, proxies, prefix="sim", services=SERVICES,
                               inbound_base=0, namespace=NAMESPACE, log=tmp / "fleet.log",
                               trace=trace_path, trace_every=trace_every)
        fleet.start(timeout=120 + proxies / 20)
        try:
            wait_for(lambda: _endpoint_count(cp.address) == pods, 60,
                     what=f"{pods} endpoints of both clusters")
            cp.wait_for(lambda t: t["proxies"] == proxies
                        and t["statuses"] == {"SYNCED": proxies}, 120, interval=0.2,
                        summary=True)
            writes: list[Write] = []
            flips = iter(range(1, 10 ** 6))

            def flip_rule(phase: str) -> None:
                sent = time.time()
                done = custom.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL,
                                                             RULE, rule_body(next(flips)))
                writes.append(Write(sent, "rule", phase,
                                    revision=int(done["metadata"]["resourceVersion"])))

            # Quiet: a rule flip each second, one pod flip half a second later.
            core = client.CoreV1Api(one.api_client)
            quiet_pods = random.sample(pod_sets[0], min(rule_changes, len(pod_sets[0])))
            parts = {"cp": [cp.proc.pid], "fleet": [fleet.proc.pid],
                     "kube": [pid for c in clusters for pid in c.pids.values()]}
            meter, pushes0, t0 = CpuMeter(parts), _pushes(cp.address), time.time()
            for k in range(rule_changes):
                start = time.time()
                flip_rule("quiet")
                time.sleep(max(0.0, start + 0.5 - time.time()))
                service, name, ip = quiet_pods[k % len(quiet_pods)]
                ready = (k // len(quiet_pods)) % 2 == 1  # first visit: not Ready, then back
                sent = time.time()
                core.patch_namespaced_pod_status(name, NAMESPACE,
                                                 {"status": pod_status(ip, ready)},
                                                 _preload_content=False)
                writes.append(Write(sent, "pod", "quiet", service, ip, ready))
                time.sleep(max(0.0, start + 1.0 - time.time()))
            out.update({f"quiet_cpu_{k}": v for k, v in meter.shares().items()})
            out["quiet_pushes_per_s"] = (_pushes(cp.address) - pushes0) / (time.time() - t0)
            for service, name, ip in quiet_pods:  # back to all Ready before the churn
                core.patch_namespaced_pod_status(name, NAMESPACE,
                                                 {"status": pod_status(ip, True)},
                                                 _preload_content=False)
            wait_for(lambda: _endpoint_count(cp.address) == pods, 30, what="all pods Ready")
            time.sleep(2.0)

            # Churn: pods in both clusters at `rate` a second, the rule flip every second.
            churners = [Churner(c.kubeconfig, pod_set, rate / 2)
                        for c, pod_set in zip(clusters, pod_sets)]
            threads = [threading.Thread(target=ch.run, args=(seconds,)) for ch in churners]
            before, pushes0 = cp.summary(), _pushes(cp.address)
            meter, t0 = CpuMeter(parts), time.time()
            rss0 = rss_kib(cp.proc.pid)
            for t in threads:
                t.start()
            time.sleep(1.0)  # the churn under way first
            rule_at = time.time()
            while time.time() < t0 + seconds - 1.0:
                flip_rule("churn")
                rule_at += 1.0
                time.sleep(max(0.0, rule_at - time.time()))
            for t in threads:
                t.join()
            ended = time.time()
            out.update({f"churn_cpu_{k}": v for k, v in meter.shares().items()})
            out["churn_pushes_per_s"] = (_pushes(cp.address) - pushes0) / (ended - t0)
            out["rss_mib"] = rss_kib(cp.proc.pid) / 1024
            out["rss_before_mib"] = rss0 / 1024
            out["peak_rss_mib"] = _peak_rss_kib(cp.proc.pid) / 1024
            pod_writes = [w for ch in churners for w in ch.writes]
            out["achieved_rate"] = len(pod_writes) / (max(w.sent for w in pod_writes)
                                                       - min(w.sent for w in pod_writes))
            out["write_errors"] = sum(ch.errors for ch in churners)
            writes += pod_writes
            # After the churn: everyone SYNCED on the last state, and how long that took.
            settled = cp.wait_for(lambda t: t["statuses"] == {"SYNCED": proxies}, 120,
                                  interval=0.1, summary=True)
            out["settle_s"] = max(0.0, (settled["lastAck"] or ended) - ended)
            out["sent_mib_per_s"] = (settled["bytesSent"] - before["bytesSent"]) / 2 ** 20 / (
                ended - t0)
            out["inflight_peak_mib"] = settled["inflightPeak"] / 2 ** 20
            # The final state as the API servers have it, and as the control plane serves it.
            final = {ip for ch in churners for _, name, ip in ch.pods if ch.ready[name]}
            served = {e["address"] for svc in _config_dump(cp.address)["snapshot"]["services"]
                      for e in svc["endpoints"]}
            out["final_mismatch"] = len(final ^ served)
        finally:
            fleet.stop(timeout=60)
        cp.stop()
        trace = Trace(trace_path)
        with open(tmp / "writes.jsonl", "w") as f:  # beside the trace, for a closer look (--keep)
            for w in writes:
                f.write(json.dumps(w.__dict__) + "\n")

    out["traced"] = len(trace.applies)
    for phase in ("quiet", "churn"):
        for kind in ("rule", "pod"):
            chosen = sorted((w for w in writes if w.phase == phase and w.kind == kind),
                            key=lambda w: w.sent)
            lat = [trace.latency(w) for w in chosen]
            seen = [x for x in lat if x is not None]
            out[f"{phase}_{kind}_n"] = len(lat)
            out[f"{phase}_{kind}_missed"] = len(lat) - len(seen)
            if seen:
                out[f"{phase}_{kind}_p50"] = percentile(seen, 50)
                out[f"{phase}_{kind}_p99"] = percentile(seen, 99)
            if phase == "churn" and kind == "pod" and len(seen) >= 20:
                half = len(seen) // 2  # does the tail grow while the churn goes on?
                out["churn_pod_p99_first_half"] = percentile(seen[:half], 99)
                out["churn_pod_p99_second_half"] = percentile(seen[half:], 99)
    return out


# -- figures ---------------------------------------------------------------------------------


def median_of(runs: list[dict]) -> dict:
    keys = {k for r in runs for k, v in r.items() if isinstance(v, (int, float))}
    return {**runs[0], **{k: statistics.median(r[k] for r in runs if k in r) for k in keys},
            "runs": len(runs)}


def figures(runs: list[dict]) -> list[Figure]:
    m = median_of(runs)
    loads = sorted(r["load"] for r in runs)
    setup = (f"{m['proxies']} simulated proxies (one process, every 10th traced), {m['pods']} "
             f"pods ({m['pods'] // 2} per cluster) behind {SERVICES} services present in both "
             f"clusters; median of {m['runs']} runs; 1-minute load average {loads[0]:.1f} to "
             f"{loads[-1]:.1f} at the starts (2 cores shared with other engineers' work; the two "
             f"API servers, their etcds, the control plane, the fleet and the writers all on "
             f"them)")
    churn = f"under churn ({m['achieved_rate']:.0f} pod changes/s)"

    def by_run(key: str) -> str:
        return " / ".join(f"{r[key]:.2f}" for r in runs)

    out = [
        Figure(f"rule change p50 {churn}", m["churn_rule_p50"], "s",
               "rule change p50, quiet", m["quiet_rule_p50"], notes=setup),
        Figure(f"rule change p99 {churn}", m["churn_rule_p99"], "s",
               "rule change p99, quiet", m["quiet_rule_p99"],
               notes=f"{m['churn_rule_n']:.0f} rule flips (CRD patches, one a second) under "
                     f"churn, {m['quiet_rule_n']:.0f} quiet, per run; each to the last traced "
                     f"proxy; by run: {by_run('churn_rule_p99')} s under churn, "
                     f"{by_run('quiet_rule_p99')} s quiet"),
        Figure(f"pod change p50 {churn}", m["churn_pod_p50"], "s",
               "pod change p50, quiet (1 a second)", m["quiet_pod_p50"]),
        Figure(f"pod change p99 {churn}", m["churn_pod_p99"], "s",
               "pod change p99, quiet (1 a second)", m["quiet_pod_p99"],
               notes=f"{m['churn_pod_n']:.0f} readiness flips per run; by run "
                     f"{by_run('churn_pod_p99')} s; p99 over the first "
                     f"half of the churn {m.get('churn_pod_p99_first_half', 0):.2f} s, over "
                     f"the second half {m.get('churn_pod_p99_second_half', 0):.2f} s; under "
                     f"churn endpoint pushes wait for the --endpoint-max-delay (1 s) "
                     f"since no quiet 50 ms comes; changes no proxy had within 30 s: "
                     f"{m['churn_pod_missed']:.0f}"),
        Figure("pod changes per second achieved", m["achieved_rate"], "changes/s",
               "asked for", m["rate"], notes=f"status patches that failed: "
                                            f"{m['write_errors']:.0f}"),
        Figure("control-plane CPU under churn", m["churn_cpu_cp"] * 100, "% of a core",
               "quiet", m["quiet_cpu_cp"] * 100,
               notes="process CPU (user + system) over the phase, its watch threads included; "
                     f"pushes a second {m['churn_pushes_per_s']:.1f} under churn (the rule flip "
                     f"carries the pod changes batched since the last push), "
                     f"{m['quiet_pushes_per_s']:.1f} quiet (a rule flip, a pod flip); "
                     "meanwhile, under churn (quiet): the simulated fleet "
                     f"{m['churn_cpu_fleet'] * 100:.0f}% ({m['quiet_cpu_fleet'] * 100:.0f}%), "
                     f"both API servers and etcds {m['churn_cpu_kube'] * 100:.0f}% "
                     f"({m['quiet_cpu_kube'] * 100:.0f}%), the bench's writers "
                     f"{m['churn_cpu_writers'] * 100:.0f}% ({m['quiet_cpu_writers'] * 100:.0f}%)"
                     " of a core"),
        Figure("control-plane RSS after the churn", m["rss_mib"], "MiB",
               "before the churn", m["rss_before_mib"],
               notes=f"peak (VmHWM) {m['peak_rss_mib']:.0f} MiB"),
        Figure("all proxies SYNCED after the churn stops", m["settle_s"], "s",
               notes="from the last write until the last proxy ACKed the final state (nothing "
                     "piles up); endpoints served then that differ from the pods' final "
                     f"readiness: {m['final_mismatch']:.0f}; pushed under churn "
                     f"{m['sent_mib_per_s']:.1f} MiB/s, at most "
                     f"{m['inflight_peak_mib']:.1f} MiB unanswered at once"),
    ]
    return out


def run(quick: bool = False) -> list[Figure]:
    size = (dict(proxies=50, pods=40, rate=20, seconds=6, rule_changes=3) if quick else
            dict(proxies=1000, pods=400, rate=100, seconds=40, rule_changes=20))
    runs = []
    for _ in range(1 if quick else 3):
        tmp = Path(tempfile.mkdtemp(prefix=f"meshtool-bench-churn-{os.getpid()}-"))
        try:
            runs.append(measure(**size, tmp=tmp))
            print(f"   run {len(runs)}: {json.dumps(runs[-1])}", file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return figures(runs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_churn")
    ap.add_argument("--proxies", type=int, default=1000)
    ap.add_argument("--pods", type=int, default=400, help="in all, half in each cluster")
    ap.add_argument("--rate", type=float, default=100, help="pod changes a second")
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--rule-changes", type=int, default=20, help="in the quiet phase")
    ap.add_argument("--keep", action="store_true", help="keep the logs and the trace")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix=f"meshtool-bench-churn-{os.getpid()}-"))
    try:
        print(json.dumps(measure(args.proxies, args.pods, args.rate, args.seconds,
                                 args.rule_changes, tmp)), flush=True)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
