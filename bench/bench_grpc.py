"""gRPC: unary calls through two sidecars (outbound and inbound) against direct calls (grpcio)

A real grpcio server (its own process, pinned to core 1) answers a unary method; a grpcio
client in this process keeps 10 calls in flight, first directly, then through an outbound
sidecar (the client's explicit proxy, HTTP CONNECT then h2c, as grpcio does it) and the
server's inbound sidecar (both pinned to core 0), with routing and metrics on. Rounds
alternate direct and meshed; each figure is the median of the rounds. Calls per CPU-second of
each sidecar (calls served / CPU time that process used) is what one core can carry, whatever
the neighbours do; the server's own calls per CPU-second is beside it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.bench_sidecar import _cpu_seconds, _pin, _port, _wait
from bench.harness import Figure

ROOT = Path(__file__).resolve().parents[1]
IN_FLIGHT = 10

SERVER = """
import sys, time
from concurrent import futures
import grpc
def unary(request, context):
    return b"pong:" + request
handler = grpc.method_handlers_generic_handler(
    "bench.Echo", {"Unary": grpc.unary_unary_rpc_method_handler(unary)})
server = grpc.server(futures.ThreadPoolExecutor(16))
server.add_generic_rpc_handlers((handler,))
server.add_insecure_port("127.0.0.1:" + sys.argv[1])
server.start()
server.wait_for_termination()
"""


def _load(channel, seconds: float) -> int:
    """Calls completed in `seconds` with IN_FLIGHT blocking callers."""
    call = channel.unary_unary("/bench.Echo/Unary")
    done = [0] * IN_FLIGHT
    stop = time.monotonic() + seconds

    def worker(i: int) -> None:
        while time.monotonic() < stop:
            call(b"ping", timeout=10)
            done[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(IN_FLIGHT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done)


def run(quick: bool = False) -> list[Figure]:
    try:
        import grpc
    except ImportError:
        return [Figure("gRPC benchmark skipped", 0, "", notes="grpcio missing (the test extra)")]
    rounds, seconds = (1, 2.0) if quick else (3, 4.0)
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-grpc-{os.getpid()}-"))
    server_port, inbound, outbound, admin_in, admin_out = (_port() for _ in range(5))
    (tmp / "server.py").write_text(SERVER)
    (tmp / "in.json").write_text(json.dumps({"version": "bench"}))
    (tmp / "out.json").write_text(json.dumps({"version": "bench", "services": [{
        "name": "echo", "ports": [{"port": 50051, "protocol": "grpc"}],
        "endpoints": [{"address": "127.0.0.1", "port": inbound,
                       "labels": {"version": "v1"}}]}]}))
    devnull = subprocess.DEVNULL
    procs = []
    try:
        server = subprocess.Popen([*_pin(1), sys.executable, str(tmp / "server.py"),
                                   str(server_port)], stdout=devnull, stderr=devnull)
        procs.append(server)
        side_in = subprocess.Popen(
            [*_pin(0), sys.executable, "-m", "meshtool", "proxy", "run", "--snapshot",
             str(tmp / "in.json"), "--inbound-port", str(inbound), "--outbound-port",
             str(_port()), "--admin-port", str(admin_in), "--service", "echo", "--app-port",
             str(server_port)], stdout=devnull, stderr=devnull, cwd=ROOT)
        side_out = subprocess.Popen(
            [*_pin(0), sys.executable, "-m", "meshtool", "proxy", "run", "--snapshot",
             str(tmp / "out.json"), "--inbound-port", str(_port()), "--outbound-port",
             str(outbound), "--admin-port", str(admin_out), "--service", "client"],
            stdout=devnull, stderr=devnull, cwd=ROOT)
        procs += [side_in, side_out]
        _wait(server_port)
        _wait(f"http://127.0.0.1:{admin_in}/ready")
        _wait(f"http://127.0.0.1:{admin_out}/ready")
        direct = grpc.insecure_channel(f"127.0.0.1:{server_port}")
        meshed = grpc.insecure_channel("echo:50051", options=[
            ("grpc.http_proxy", f"http://127.0.0.1:{outbound}"), ("grpc.enable_retries", 0)])
        for ch in (direct, meshed):
            grpc.channel_ready_future(ch).result(timeout=15)
            _load(ch, 0.5)  # warm-up
        rates: dict[str, list[float]] = {"direct": [], "meshed": []}
        per_cpu: dict[str, list[float]] = {"outbound": [], "inbound": [], "server": [],
                                           "server direct": []}
        for _ in range(rounds):  # alternate: the machine's noise hits both alike
            s0 = _cpu_seconds(server.pid)
            t0 = time.perf_counter()
            n = _load(direct, seconds)
            rates["direct"].append(n / (time.perf_counter() - t0))
            per_cpu["server direct"].append(n / max(_cpu_seconds(server.pid) - s0, 1e-3))
            cpu0 = {k: _cpu_seconds(p.pid) for k, p in
                    (("outbound", side_out), ("inbound", side_in), ("server", server))}
            t0 = time.perf_counter()
            n = _load(meshed, seconds)
            rates["meshed"].append(n / (time.perf_counter() - t0))
            for k, p in (("outbound", side_out), ("inbound", side_in), ("server", server)):
                per_cpu[k].append(n / max(_cpu_seconds(p.pid) - cpu0[k], 1e-3))
        direct.close()
        meshed.close()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
    med = {k: statistics.median(v) for k, v in {**rates, **per_cpu}.items()}
    load = os.getloadavg()[0]
    return [
        Figure("gRPC unary calls/s through two sidecars, 10 in flight", med["meshed"], "calls/s",
               "direct calls/s", med["direct"],
               notes=f"median of {rounds} alternating rounds of {seconds:.0f} s; load average "
                     f"{load:.1f} on {os.cpu_count()} cores (the client, the server and both "
                     "sidecars share them)"),
        Figure("gRPC unary calls per CPU-second, outbound sidecar", med["outbound"], "calls/s",
               "grpcio server per CPU-second", med["server direct"],
               notes="calls / CPU time of the sidecar process (h2 both sides: CONNECT, then "
                     "h2c prior knowledge to the inbound sidecar)"),
        Figure("gRPC unary calls per CPU-second, inbound sidecar", med["inbound"], "calls/s",
               "grpcio server per CPU-second", med["server direct"],
               notes="calls / CPU time of the sidecar process (h2c in, h2c to the app: the "
                     "port is declared grpc)"),
    ]
