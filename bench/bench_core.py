"""Sidecar against mitmproxy's core alone: requests per CPU-second and added p50, the runtime's ceiling

Issue 10 asks for >= 3,000 requests per CPU-second and an added p50 under 0.5 ms with routing,
metrics and trace headers on. This measures how much of the gap is meshtool's and how much is
the runtime's: `meshtool proxy run` (90/10-style route rule, metrics, trace headers) beside the
same Master with an empty policy pipeline (bench/core_only.py: mitmproxy's proxy core with
meshtool's tuning, forwarding absolute-form requests to the host they name), both pinned to core
0, one nginx backend on core 1, `wrk -t1` keep-alive. Rounds alternate the two; the figures are
medians over the rounds. CPU time comes from /proc, so a busy machine slows both alike.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_sidecar import (ABSOLUTE_LUA, NGINX_CONF, SNAPSHOT, _cpu_seconds, _pin, _port,
                                 _wait, _wrk)
from bench.harness import Figure


def _per_cpu_second(port: int, pid: int, lua: Path, seconds: float) -> float:
    before = _cpu_seconds(pid)
    out = _wrk(port, 10, seconds, str(lua))
    if out["errors"]:
        raise RuntimeError(f"{out['errors']} non-2xx answers through port {port}")
    return out["requests"] / max(_cpu_seconds(pid) - before, 1e-9)


def run(quick: bool = False) -> list[Figure]:
    rounds, seconds = (3, 2) if quick else (5, 3)
    tmp = Path(tempfile.mkdtemp(prefix="bench-core-"))
    backend, sidecar_port, core_port = _port(), _port(), _port()
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, backend=backend, proxy=_port()))
    (tmp / "snapshot.json").write_text(SNAPSHOT.format(backend=backend))
    mesh_lua, core_lua = tmp / "mesh.lua", tmp / "core.lua"
    mesh_lua.write_text(ABSOLUTE_LUA)
    core_lua.write_text(f'wrk.path = "http://127.0.0.1:{backend}/hw2"\n')
    meshtool = str(Path(sys.executable).with_name("meshtool"))
    quiet = subprocess.DEVNULL
    procs = [subprocess.Popen([*_pin(1), "nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
                              stdout=quiet, stderr=quiet)]
    try:
        _wait(backend)
        sidecar = subprocess.Popen([*_pin(0), meshtool, "proxy", "run", "--snapshot",
                                    str(tmp / "snapshot.json"), "--outbound-port", str(sidecar_port),
                                    "--inbound-port", str(_port()), "--admin-port", str(_port())],
                                   stdout=quiet, stderr=quiet)
        core = subprocess.Popen([*_pin(0), sys.executable, "-m", "bench.core_only", str(core_port),
                                 str(_port())], stdout=quiet, stderr=quiet,
                                cwd=Path(__file__).resolve().parents[1])
        procs += [sidecar, core]
        _wait(sidecar_port)
        _wait(core_port)
        targets = {"sidecar": (sidecar_port, sidecar.pid, mesh_lua),
                   "core": (core_port, core.pid, core_lua)}
        for port, _, lua in targets.values():
            _wrk(port, 10, 1, str(lua))  # warm-up: connections, caches, the first compiles
        rate: dict[str, list[float]] = {name: [] for name in targets}
        p50: dict[str, list[float]] = {name: [] for name in (*targets, "direct")}
        for _ in range(rounds):
            for name, (port, pid, lua) in targets.items():
                rate[name].append(_per_cpu_second(port, pid, lua, seconds))
            p50["direct"].append(_wrk(backend, 1, seconds, None)["p50"])
            for name, (port, _, lua) in targets.items():
                p50[name].append(_wrk(port, 1, seconds, str(lua))["p50"])
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    med = {name: statistics.median(v) for name, v in rate.items()}
    direct = statistics.median(p50["direct"])
    added = {name: statistics.median(v) - direct for name, v in p50.items() if name != "direct"}
    runs = lambda v: ", ".join(f"{x:,.0f}" for x in v)  # noqa: E731
    return [
        Figure("sidecar requests per CPU-second, 10 conn (route rule, metrics, trace headers)",
               med["sidecar"], "req/s", "mitmproxy's core alone (no policy)", med["core"],
               target=">= 3,000", met=med["sidecar"] >= 3000,
               notes=f"rounds: sidecar {runs(rate['sidecar'])}; core {runs(rate['core'])}"),
        Figure("mitmproxy's core alone, requests per CPU-second, 10 conn", med["core"], "req/s",
               "the issue's target", 3000.0,
               notes="no meshtool policy runs: the most a sidecar on this runtime can reach"),
        Figure("sidecar added p50, 1 conn", added["sidecar"], "ms", "core alone, added p50",
               added["core"], target="< 0.5 ms", met=added["sidecar"] < 0.5,
               notes=f"direct p50 {direct:.3f} ms; wrk -c1 keep-alive, medians of {rounds} rounds"),
    ]
