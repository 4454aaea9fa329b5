"""Tracing and metrics overhead: sidecar requests per CPU-second, tracing off / 1% / 100%.

One nginx backend, one `meshtool proxy run` per variant (all pinned to the same core, measured
one at a time), the same wrk load (10 connections) on each in alternating rounds; the figure is
requests served per CPU-second the proxy process used (its export thread included), the median
of the rounds. Spans go to a real Zipkin (scripts/zipkin-server.sh) when the jar and Java are
there, else to a port that accepts and never answers (exports fail; requests must not care).
With BENCH_BASELINE=/path/to/another/checkout (and BENCH_BASELINE_NAME to label it), that
checkout's sidecar runs as one more variant (tracing off): the before/after of a change to the
request path, side by side.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_sidecar import (ABSOLUTE_LUA, NGINX_CONF, ROOT, _cpu_seconds, _pin, _port,
                                 _wait, _wrk)
from bench.harness import Figure


def run(quick: bool = False) -> list[Figure]:
    missing = [t for t in ("wrk", "nginx") if not shutil.which(t)]
    if missing:
        return [Figure("tracing benchmark skipped", 0, "", notes=f"missing: {', '.join(missing)}")]
    seconds, rounds = (2, 1) if quick else (3, 3)
    tmp = Path(tempfile.mkdtemp(prefix="bench-tracing-"))
    backend = _port()
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, backend=backend, proxy=_port()))
    lua = tmp / "absolute.lua"
    lua.write_text(ABSOLUTE_LUA)
    snapshot = tmp / "snapshot.json"
    snapshot.write_text(
        '{"version": "bench", "services": [{"name": "benigno", "ports": [5000], "endpoints": '
        f'[{{"address": "127.0.0.1", "port": {backend}, "labels": {{"version": "v1"}}}}]}}]}}')
    procs: list[subprocess.Popen] = []
    zipkin = hole = None
    try:
        procs.append(subprocess.Popen([*_pin(1), "nginx", "-c", str(tmp / "nginx.conf"), "-p",
                                       str(tmp)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        _wait(backend)
        collector, where = _collector(tmp)
        if isinstance(collector, socket.socket):
            hole = collector
            endpoint = f"http://127.0.0.1:{collector.getsockname()[1]}/api/v2/spans"
        else:
            zipkin = collector
            endpoint = collector.spans_endpoint
        variants = {"off": [], "1%": ["--zipkin", endpoint, "--trace-sampling", "1"],
                    "100%": ["--zipkin", endpoint, "--trace-sampling", "100"]}
        baseline = os.environ.get("BENCH_BASELINE")
        sidecars = {}
        for name, extra in variants.items():
            sidecars[name] = _sidecar(snapshot, extra, ROOT, procs)
        if baseline:
            sidecars["baseline"] = _sidecar(snapshot, [], Path(baseline), procs)
        for port, _ in sidecars.values():
            _wrk(port, 10, 1, str(lua))  # warm-up
        per_cpu: dict[str, list[float]] = {k: [] for k in sidecars}
        for _ in range(rounds):
            for name, (port, proc) in sidecars.items():
                cpu0 = _cpu_seconds(proc.pid)
                r = _wrk(port, 10, seconds, str(lua))
                used = _cpu_seconds(proc.pid) - cpu0
                if used > 0 and r["requests"]:
                    per_cpu[name].append(r["requests"] / used)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if zipkin is not None:
            zipkin.close()
        if hole is not None:
            hole.close()
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in per_cpu.items() if v}
    note = f"median of {rounds} alternating rounds, 10 conn, spans to {where}"
    figs = [Figure(f"sidecar requests per CPU-second, tracing {k}", med[k], "req/s",
                   "tracing off", med["off"], target=">= 0.9x off" if k == "1%" else None,
                   met=med[k] >= 0.9 * med["off"] if k == "1%" else None, notes=note)
            for k in ("1%", "100%") if k in med]
    figs.insert(0, Figure("sidecar requests per CPU-second, tracing off", med["off"], "req/s",
                          notes=note))
    if "baseline" in med:
        figs.append(Figure("sidecar requests per CPU-second, this checkout (tracing off)",
                           med["off"], "req/s",
                           os.environ.get("BENCH_BASELINE_NAME") or str(baseline), med["baseline"],
                           notes="before/after of the request path, " + note))
    return figs


def _collector(tmp: Path):
    from meshtool.testing.zipkin import Zipkin, jar_path
    jar = jar_path()
    if jar is not None:
        z = Zipkin(jar, tmp / "zipkin.log")
        try:
            z.wait_ready()
            return z, "a real Zipkin"
        except (RuntimeError, TimeoutError):
            z.close()
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    return hole, "a port that never answers (no Zipkin jar)"


def _sidecar(snapshot: Path, extra: list[str], checkout: Path, procs: list) -> tuple[int, object]:
    port, admin = _port(), _port()
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    p = subprocess.Popen(
        [*_pin(0), sys.executable, "-m", "meshtool", "proxy", "run", "--snapshot", str(snapshot),
         "--outbound-port", str(port), "--inbound-port", str(_port()), "--admin-port", str(admin),
         "--service", "bench", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=checkout, env=env)
    procs.append(p)
    _wait(f"http://127.0.0.1:{admin}/ready", 60)
    return port, p
